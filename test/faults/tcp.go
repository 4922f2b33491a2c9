package faults

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// A toxic is one kind of network fault, as Toxiproxy's JSON defines it.
type toxic struct {
	stream string // "downstream" (S3 to the function) or "upstream"
	// toxicity is the share of connections it affects.
	toxicity float64
	attrs    func(r *rand.Rand) string
}

// networkFaults are what the network does to S3 traffic at scale: delays,
// stalled connections that close after a while, connection resets, a slow
// link, and responses arriving in small pieces.
var networkFaults = map[string]toxic{
	"latency": {"downstream", 1, func(r *rand.Rand) string {
		return fmt.Sprintf(`{"latency":%d,"jitter":%d}`, 50+r.IntN(400), r.IntN(100))
	}},
	"timeout":    {"upstream", 0.3, func(r *rand.Rand) string { return fmt.Sprintf(`{"timeout":%d}`, 500+r.IntN(2000)) }},
	"reset_peer": {"downstream", 0.3, func(r *rand.Rand) string { return fmt.Sprintf(`{"timeout":%d}`, r.IntN(200)) }},
	"bandwidth":  {"downstream", 1, func(r *rand.Rand) string { return fmt.Sprintf(`{"rate":%d}`, 64+r.IntN(512)) }},
	"slicer":     {"downstream", 1, func(*rand.Rand) string { return `{"average_size":64,"size_variation":32,"delay":200}` }},
}

// NetworkKinds are the kinds of network fault Inject knows.
var NetworkKinds = slices.Sorted(maps.Keys(networkFaults))

// TCP is a Toxiproxy proxy in front of an upstream address, run in-process.
type TCP struct {
	proxy *toxiproxy.Proxy

	mu     sync.Mutex
	rng    *rand.Rand
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

// Inject adds a network fault of kind (one of NetworkKinds) with a random
// strength, for every connection from now on, and returns what removes it.
func (t *TCP) Inject(kind string) (remove func() error, err error) {
	f, ok := networkFaults[kind]
	if !ok {
		return nil, fmt.Errorf("no network fault %q; known: %v", kind, NetworkKinds)
	}
	t.mu.Lock()
	name := fmt.Sprintf("%s_%d", kind, t.counts[kind])
	doc := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":%g,"attributes":%s}`, name, kind, f.stream, f.toxicity, f.attrs(t.rng))
	t.counts[kind]++
	t.mu.Unlock()
	if _, err := t.proxy.Toxics.AddToxicJson(strings.NewReader(doc)); err != nil {
		return nil, fmt.Errorf("toxiproxy: add %s: %w", doc, err)
	}
	return func() error {
		if err := t.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
			return fmt.Errorf("toxiproxy: remove %s: %w", name, err)
		}
		return nil
	}, nil
}

// Run injects one network fault of a random kind after another until ctx
// ends: each for a random while up to hold, with a quiet pause up to pause
// between them.
func (t *TCP) Run(ctx context.Context, hold, pause time.Duration) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(t.randomDuration(pause)):
		}
		t.mu.Lock()
		kind := NetworkKinds[t.rng.IntN(len(NetworkKinds))]
		t.mu.Unlock()
		remove, err := t.Inject(kind)
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(t.randomDuration(hold)):
		}
		if err := remove(); err != nil {
			return err
		}
	}
}

// Close stops the proxy and its connections.
func (t *TCP) Close() { t.proxy.Stop() }

// randomDuration is between half of max and max.
func (t *TCP) randomDuration(max time.Duration) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Duration(t.rng.Int64N(int64(max)/2) + int64(max)/2)
}
