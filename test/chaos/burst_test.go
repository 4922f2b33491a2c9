// Package chaos_test uploads a burst of images into the local stack while
// faults hit everything between the function processes and S3, then checks
// from S3 itself that every upload ended as exactly one current output or a
// recorded failure, and that no upload was changed or lost.
//
// make test runs it at a size that fits CI; make chaos takes the size and the
// duration as parameters (CHAOS_UPLOADS, CHAOS_DURATION).
package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/faults"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// Parameters, from the environment.
var (
	uploads   = envInt("CHAOS_UPLOADS", 1000)
	duration  = envDuration("CHAOS_DURATION", time.Minute)
	functions = envInt("CHAOS_FUNCTIONS", 4)
	// errorRate is the share of the functions' S3 requests answered with an
	// S3 error.
	errorRate = 0.04
)

func TestBurst(t *testing.T) {
	root, err := local.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	// The state (MinIO's data and event queue, every process's log) stays
	// when the test fails.
	state, err := os.MkdirTemp("", "chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(state)
		}
	})
	bins, err := local.Prepare(t.Context(), root, filepath.Join(state, "bin"), testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	b := &burst{t: t, outcomes: local.NewRecorder(), latest: map[string]version{}, deleted: map[string]bool{},
		deliveries: map[string][][]byte{}}
	stackLog, err := os.Create(filepath.Join(state, "stack.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stackLog.Close() }()
	b.stack, err = local.Start(t.Context(), local.Options{
		Binaries:   bins,
		StateDir:   state,
		Functions:  functions,
		Log:        stackLog,
		OnOutcome:  b.outcomes.Add,
		OnDelivery: b.delivered,
		// function -> Toxiproxy (the network) -> S3 errors -> MinIO
		FunctionS3: func(minio string) (string, error) {
			if b.s3errors, err = faults.StartS3Errors(minio, 0); err != nil {
				return "", err
			}
			if b.network, err = faults.StartTCP(strings.TrimPrefix(b.s3errors.URL(), "http://")); err != nil {
				return "", err
			}
			return "http://" + b.network.Addr(), nil
		},
	})
	if b.s3errors != nil {
		t.Cleanup(b.s3errors.Close)
	}
	if b.network != nil {
		t.Cleanup(b.network.Close)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stack.Close)

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("burst: %d keys over %s on %d function processes, seed %d (CHAOS_SEED repeats the plan)", uploads, duration, functions, seed)
	actions := plan(rand.New(rand.NewPCG(seed, 0)), images(t, bins.Magick()), uploads, duration)

	start := time.Now()
	b.run(t.Context(), actions)
	t.Logf("uploads done in %s; waiting for every outcome", time.Since(start).Round(time.Second))
	waitCtx, cancel := withinDeadline(t, 10*time.Minute)
	defer cancel()
	b.settle(waitCtx)
	r := b.check(t.Context(), actions)
	summary := fmt.Sprintf("burst: uploads %d (%d keys, %d overwritten, %d deleted after upload, %d delivered twice); "+
		"faults: %s; outputs %d, recorded failures %d, stale %d, lost %d",
		r.uploads, len(actions), r.overwritten, r.deleted, r.redelivered, b.faults(),
		r.outputs, r.failures, r.stale, r.lost)
	t.Log(summary)
	for _, p := range r.problems {
		t.Error(p)
	}
	if t.Failed() {
		t.Logf("kept for a look: %s (stack.log, logs/, failures.jsonl, MinIO's data and event queue)", state)
	}
}

// version is an upload S3 acknowledged.
type version struct {
	etag string
	data []byte
}

type burst struct {
	t                 *testing.T
	stack             *local.Stack
	outcomes          *local.Recorder
	network           *faults.TCP
	s3errors          *faults.S3Errors
	killed, restarted atomic.Int64

	// s3Up is held for writing while MinIO restarts: uploads wait, because
	// MinIO acknowledges uploads before it is ready to send their events.
	s3Up sync.RWMutex

	mu          sync.Mutex
	latest      map[string]version // by key: the last upload S3 acknowledged
	deleted     map[string]bool
	uploads     int
	deliveries  map[string][][]byte // webhook bodies by key
	redelivered int
}

// run carries out the actions at their times while the faults run, and stops
// the faults when the last action is done.
func (b *burst) run(ctx context.Context, actions []action) {
	faultCtx, stopFaults := context.WithCancel(ctx)
	var faultsDone sync.WaitGroup
	faultsDone.Go(func() {
		if err := b.network.Run(faultCtx, 2*time.Second, 3*time.Second); err != nil {
			b.t.Error(err)
		}
	})
	faultsDone.Go(func() { b.killFunctions(faultCtx) })
	faultsDone.Go(func() { b.restartS3(faultCtx, duration/2) })
	b.s3errors.SetRate(errorRate)

	start := time.Now()
	var wg sync.WaitGroup
	for i, a := range actions {
		if wait := a.at - time.Since(start); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		wg.Go(func() { b.act(ctx, a, rng) })
	}
	wg.Wait()
	stopFaults()
	faultsDone.Wait()
	b.s3errors.SetRate(0)
}

// act uploads a key's versions, then deletes or redelivers it if planned.
func (b *burst) act(ctx context.Context, a action, rng *rand.Rand) {
	var etag string
	for i, v := range a.versions {
		if i > 0 && a.settle {
			b.waitSettled(ctx, a.key, etag)
		}
		if i > 0 {
			time.Sleep(a.gap)
		}
		etag = b.put(ctx, a.key, v.data)
		if etag == "" {
			return
		}
	}
	switch {
	case a.deleteAfter > 0:
		time.Sleep(a.deleteAfter)
		b.delete(ctx, a.key)
	case a.redeliver:
		b.redeliver(ctx, a.key, etag, time.Duration(rng.IntN(2000))*time.Millisecond)
	}
}

// put uploads data, retrying until S3 acknowledges it (MinIO may be
// restarting), and returns the ETag.
func (b *burst) put(ctx context.Context, key string, data []byte) string {
	for attempt := 1; ; attempt++ {
		b.s3Up.RLock()
		out, err := b.stack.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(b.stack.SourceBucket), Key: aws.String(key), Body: bytes.NewReader(data),
		})
		b.s3Up.RUnlock()
		if err == nil {
			etag := strings.Trim(aws.ToString(out.ETag), `"`)
			b.mu.Lock()
			b.latest[key] = version{etag, data}
			b.uploads++
			b.mu.Unlock()
			return etag
		}
		if ctx.Err() != nil || attempt == 60 {
			b.t.Errorf("upload %s: %v", key, err)
			return ""
		}
		time.Sleep(time.Second)
	}
}

func (b *burst) delete(ctx context.Context, key string) {
	for attempt := 1; ; attempt++ {
		b.s3Up.RLock()
		_, err := b.stack.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.stack.SourceBucket), Key: aws.String(key)})
		b.s3Up.RUnlock()
		if err == nil {
			b.mu.Lock()
			b.deleted[key] = true
			b.mu.Unlock()
			return
		}
		if ctx.Err() != nil || attempt == 60 {
			b.t.Errorf("delete %s: %v", key, err)
			return
		}
		time.Sleep(time.Second)
	}
}

// delivered records each webhook body the relay accepted, by key.
func (b *burst) delivered(body []byte) {
	var event events.S3Event
	if err := json.Unmarshal(body, &event); err != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rec := range event.Records {
		if key, err := url.QueryUnescape(rec.S3.Object.Key); err == nil {
			b.deliveries[key] = append(b.deliveries[key], body)
		}
	}
}

// redeliver posts the event of key's version etag to the relay once more,
// after the delay, as S3's at-least-once delivery sometimes does.
func (b *burst) redeliver(ctx context.Context, key, etag string, delay time.Duration) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b.mu.Lock()
		var body []byte
		for _, d := range b.deliveries[key] {
			if bytes.Contains(d, []byte(etag)) {
				body = d
			}
		}
		b.mu.Unlock()
		if body == nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		time.Sleep(delay)
		resp, err := http.Post(b.stack.RelayURL, "application/json", bytes.NewReader(body))
		if err != nil {
			b.t.Errorf("redeliver %s: %v", key, err)
			return
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			b.mu.Lock()
			b.redelivered++
			b.mu.Unlock()
		}
		return
	}
	b.t.Errorf("redeliver %s: its event never arrived", key)
}

// killFunctions kills the bootstrap of a busy function process every few
// seconds, in the middle of its record.
func (b *burst) killFunctions(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(2000+rand.IntN(4000)) * time.Millisecond):
		}
		name, err := b.stack.Functions().KillBusy()
		if err != nil {
			b.t.Error(err)
			return
		}
		if name != "" {
			b.killed.Add(1)
		}
	}
}

// restartS3 restarts MinIO once, after the delay.
func (b *burst) restartS3(ctx context.Context, after time.Duration) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(after):
	}
	b.s3Up.Lock()
	defer b.s3Up.Unlock()
	if err := b.stack.RestartS3(ctx); err != nil {
		b.t.Errorf("restart MinIO: %v", err)
		return
	}
	b.restarted.Add(1)
}

func (b *burst) faults() string {
	c := faults.Counts{}
	c.Add(b.network.Counts())
	c.Add(b.s3errors.Counts())
	c["killed"] = b.killed.Load()
	c["s3-restart"] = b.restarted.Load()
	return c.String()
}

// settle waits until the latest version of every key that was not deleted
// has a final outcome, or nothing happened for a minute, then until the
// relay has been idle for a while (late events of deleted or overwritten
// versions).
func (b *burst) settle(ctx context.Context) {
	lastChange, lastTotal := time.Now(), -1
	for ctx.Err() == nil && time.Since(lastChange) < time.Minute {
		b.mu.Lock()
		waiting := 0
		for key, v := range b.latest {
			if !b.deleted[key] && !b.settled(key, v.etag) {
				waiting++
			}
		}
		b.mu.Unlock()
		if waiting == 0 {
			break
		}
		if total := b.outcomes.Total(); total != lastTotal {
			lastChange, lastTotal = time.Now(), total
		}
		time.Sleep(time.Second)
	}
	last := b.stack.Stats()
	for quiet := 0; quiet < 8 && ctx.Err() == nil; {
		time.Sleep(time.Second)
		now := b.stack.Stats()
		if now == last {
			quiet++
		} else {
			quiet, last = 0, now
		}
	}
}

// waitSettled waits up to a minute for key's version etag to have its final
// outcome.
func (b *burst) waitSettled(ctx context.Context, key, etag string) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for ctx.Err() == nil && !b.settled(key, etag) {
		time.Sleep(100 * time.Millisecond)
	}
}

// settled reports whether key's version etag has an outcome that needs no
// retry.
func (b *burst) settled(key, etag string) bool {
	for _, o := range b.outcomes.For(key) {
		if o.ETag == etag && !(o.Decision == outcome.Failed && o.Retry) {
			return true
		}
	}
	return false
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func withinDeadline(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	if deadline, ok := t.Deadline(); ok && time.Until(deadline)-30*time.Second < d {
		d = time.Until(deadline) - 30*time.Second
	}
	return context.WithTimeout(t.Context(), d)
}

// testLog writes the stack's preparation messages to the test log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
