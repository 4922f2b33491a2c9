package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// A toxic is one kind of network fault, as Toxiproxy's JSON defines it.
type toxic struct {
	kind   string
	stream string // "downstream" (S3 to the function) or "upstream"
	// toxicity is the share of connections it affects.
	toxicity float64
	attrs    func(r *rand.Rand) string
}

// networkFaults are what the network does to S3 traffic at scale: delays,
// stalled connections that close after a while, connection resets, a slow
// link, and responses arriving in small pieces.
var networkFaults = []toxic{
	{"latency", "downstream", 1, func(r *rand.Rand) string {
		return fmt.Sprintf(`{"latency":%d,"jitter":%d}`, 50+r.IntN(400), r.IntN(100))
	}},
	{"timeout", "upstream", 0.3, func(r *rand.Rand) string { return fmt.Sprintf(`{"timeout":%d}`, 500+r.IntN(2000)) }},
	{"reset_peer", "downstream", 0.3, func(r *rand.Rand) string { return fmt.Sprintf(`{"timeout":%d}`, r.IntN(200)) }},
	{"bandwidth", "downstream", 1, func(r *rand.Rand) string { return fmt.Sprintf(`{"rate":%d}`, 64+r.IntN(512)) }},
	{"slicer", "downstream", 1, func(*rand.Rand) string { return `{"average_size":64,"size_variation":32,"delay":200}` }},
}

// TCP is a Toxiproxy proxy in front of an upstream address, run in-process.
type TCP struct {
	proxy *toxiproxy.Proxy
	rng   *rand.Rand

	mu     sync.Mutex
	counts Counts
}

// StartTCP proxies a free 127.0.0.1 port to upstream (host:port).
func StartTCP(upstream string) (*TCP, error) {
	zerolog.SetGlobalLevel(zerolog.Disabled) // the toxics log through zerolog's global logger
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	proxy := toxiproxy.NewProxy(server, "s3", "127.0.0.1:0", upstream)
	if err := server.Collection.Add(proxy, true); err != nil {
		return nil, fmt.Errorf("toxiproxy: %w", err)
	}
	return &TCP{proxy: proxy, rng: rand.New(rand.NewPCG(rand.Uint64(), 1)), counts: Counts{}}, nil
}

// Addr is the proxy's listening address.
func (t *TCP) Addr() string { return t.proxy.Listen }

// Counts returns the faults injected so far.
func (t *TCP) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return clone(t.counts)
}

// Run injects one network fault after another until ctx ends: each for a
// random while up to hold, with a quiet pause up to pause between them.
func (t *TCP) Run(ctx context.Context, hold, pause time.Duration) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(randomDuration(t.rng, pause)):
		}
		f := networkFaults[t.rng.IntN(len(networkFaults))]
		name := fmt.Sprintf("%s_%d", f.kind, time.Now().UnixNano())
		doc := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":%g,"attributes":%s}`, name, f.kind, f.stream, f.toxicity, f.attrs(t.rng))
		if _, err := t.proxy.Toxics.AddToxicJson(strings.NewReader(doc)); err != nil {
			return fmt.Errorf("toxiproxy: add %s: %w", doc, err)
		}
		t.mu.Lock()
		t.counts[f.kind]++
		t.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(randomDuration(t.rng, hold)):
		}
		if err := t.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
			return fmt.Errorf("toxiproxy: remove %s: %w", name, err)
		}
	}
}

// Close stops the proxy and its connections.
func (t *TCP) Close() { t.proxy.Stop() }

func randomDuration(r *rand.Rand, max time.Duration) time.Duration {
	return time.Duration(r.Int64N(int64(max)/2) + int64(max)/2)
}
