package chaos_test

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/faults"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// startEnv starts the stack with n function processes. Its state (MinIO's
// data and event queue, every process's log, the failures) stays when the
// test fails, and the test says where.
func startEnv(t *testing.T, n int) *env {
	t.Helper()
	root, err := local.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	state, err := os.MkdirTemp("", "chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kept for a look: %s (stack.log, logs/, failures.jsonl, MinIO's data and event queue)", state)
			return
		}
		_ = os.RemoveAll(state)
	})
	bins, err := local.Prepare(t.Context(), root, filepath.Join(state, "bin"), testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, magick: bins.Magick(), outcomes: local.NewRecorder(), latest: map[string]version{}, deleted: map[string]bool{},
		deliveries: map[string][][]byte{}}
	stackLog, err := os.Create(filepath.Join(state, "stack.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stackLog.Close() })
	// Deletes mirrored: then no output may outlive its upload or stand for
	// a newer version that was rejected.
	settings := config.Default()
	settings.MirrorDeletes = true
	e.stack, err = local.Start(t.Context(), local.Options{
		Binaries:   bins,
		StateDir:   state,
		Settings:   settings,
		Functions:  n,
		Log:        stackLog,
		OnOutcome:  e.outcomes.Add,
		OnDelivery: e.delivered,
		FunctionS3: func(minio string) (string, error) {
			if e.s3errors, err = faults.StartS3Errors(minio); err != nil {
				return "", err
			}
			if e.network, err = faults.StartTCP(strings.TrimPrefix(e.s3errors.URL(), "http://")); err != nil {
				return "", err
			}
			return "http://" + e.network.Addr(), nil
		},
	})
	if e.s3errors != nil {
		t.Cleanup(e.s3errors.Close)
	}
	if e.network != nil {
		t.Cleanup(e.network.Close)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stack.Close)
	return e
}

// version is an upload S3 acknowledged.
type version struct {
	etag string
	data []byte
}

// env is a local stack whose function processes reach MinIO through the
// fault proxies (function -> Toxiproxy -> S3 errors -> MinIO), and the model
// of what a test uploaded.
type env struct {
	t                 *testing.T
	stack             *local.Stack
	magick            string
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

// act uploads a key's versions, then deletes or redelivers it if planned.
func (e *env) act(ctx context.Context, a action, rng *rand.Rand) {
	var etag string
	for i, v := range a.versions {
		if i > 0 && a.settle {
			e.waitSettled(ctx, a.key, etag)
		}
		if i > 0 {
			time.Sleep(a.gap)
		}
		etag = e.put(ctx, a.key, v.data)
		if etag == "" {
			return
		}
	}
	switch {
	case a.deleteAfter > 0:
		time.Sleep(a.deleteAfter)
		e.delete(ctx, a.key)
	case a.redeliver:
		e.redeliver(ctx, a.key, etag, time.Duration(rng.IntN(2000))*time.Millisecond)
	}
}

// put uploads data, retrying until S3 acknowledges it (MinIO may be
// restarting), and returns the ETag.
func (e *env) put(ctx context.Context, key string, data []byte) string {
	for attempt := 1; ; attempt++ {
		e.s3Up.RLock()
		out, err := e.stack.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(e.stack.SourceBucket), Key: aws.String(key), Body: bytes.NewReader(data),
		})
		e.s3Up.RUnlock()
		if err == nil {
			etag := strings.Trim(aws.ToString(out.ETag), `"`)
			e.mu.Lock()
			e.latest[key] = version{etag, data}
			e.uploads++
			e.mu.Unlock()
			return etag
		}
		if ctx.Err() != nil || attempt == 60 {
			e.t.Errorf("upload %s: %v", key, err)
			return ""
		}
		time.Sleep(time.Second)
	}
}

func (e *env) delete(ctx context.Context, key string) {
	for attempt := 1; ; attempt++ {
		e.s3Up.RLock()
		_, err := e.stack.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(e.stack.SourceBucket), Key: aws.String(key)})
		e.s3Up.RUnlock()
		if err == nil {
			e.mu.Lock()
			e.deleted[key] = true
			e.mu.Unlock()
			return
		}
		if ctx.Err() != nil || attempt == 60 {
			e.t.Errorf("delete %s: %v", key, err)
			return
		}
		time.Sleep(time.Second)
	}
}

// delivered records each webhook body the relay accepted, by key.
func (e *env) delivered(body []byte) {
	var event events.S3Event
	if err := json.Unmarshal(body, &event); err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, rec := range event.Records {
		if key, err := url.QueryUnescape(rec.S3.Object.Key); err == nil {
			e.deliveries[key] = append(e.deliveries[key], body)
		}
	}
}

// redeliver posts the event of key's version etag to the relay once more,
// after the delay, as S3's at-least-once delivery sometimes does.
func (e *env) redeliver(ctx context.Context, key, etag string, delay time.Duration) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		e.mu.Lock()
		var body []byte
		for _, d := range e.deliveries[key] {
			if bytes.Contains(d, []byte(etag)) {
				body = d
			}
		}
		e.mu.Unlock()
		if body == nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		time.Sleep(delay)
		resp, err := http.Post(e.stack.RelayURL, "application/json", bytes.NewReader(body))
		if err != nil {
			e.t.Errorf("redeliver %s: %v", key, err)
			return
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			e.mu.Lock()
			e.redelivered++
			e.mu.Unlock()
		}
		return
	}
	e.t.Errorf("redeliver %s: its event never arrived", key)
}

// killFunctions kills the bootstrap of a busy function process, in the
// middle of its record, every while between min and max, until ctx ends.
func (e *env) killFunctions(ctx context.Context, min, max time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(min + time.Duration(rand.Int64N(int64(max-min)))):
		}
		name, err := e.stack.Functions().KillBusy()
		if err != nil {
			e.t.Error(err)
			return
		}
		if name != "" {
			e.killed.Add(1)
		}
	}
}

// restartS3 restarts MinIO, holding uploads back until it is ready.
func (e *env) restartS3(ctx context.Context) {
	e.s3Up.Lock()
	defer e.s3Up.Unlock()
	if err := e.stack.RestartS3(ctx); err != nil {
		e.t.Errorf("restart MinIO: %v", err)
		return
	}
	e.restarted.Add(1)
}

// faults counts every fault injected so far, by kind.
func (e *env) faults() faults.Counts {
	c := faults.Counts{}
	c.Add(e.network.Counts())
	c.Add(e.s3errors.Counts())
	if n := e.killed.Load(); n > 0 {
		c["killed"] = n
	}
	if n := e.restarted.Load(); n > 0 {
		c["s3-restart"] = n
	}
	return c
}

// settle waits until the latest version of every key that was not deleted
// has a final outcome, or nothing happened for a minute, then until the
// relay has been idle for a while (late events of deleted or overwritten
// versions).
func (e *env) settle(ctx context.Context) {
	lastChange, lastTotal := time.Now(), -1
	for ctx.Err() == nil && time.Since(lastChange) < time.Minute {
		e.mu.Lock()
		waiting := 0
		for key, v := range e.latest {
			if !e.deleted[key] && !e.settled(key, v.etag) {
				waiting++
			}
		}
		e.mu.Unlock()
		if waiting == 0 {
			break
		}
		if total := e.outcomes.Total(); total != lastTotal {
			lastChange, lastTotal = time.Now(), total
		}
		time.Sleep(time.Second)
	}
	last := e.stack.Stats()
	for quiet := 0; quiet < 8 && ctx.Err() == nil; {
		time.Sleep(time.Second)
		now := e.stack.Stats()
		if now == last {
			quiet++
		} else {
			quiet, last = 0, now
		}
	}
}

// waitAttempted waits up to limit until every action's last version has had
// an outcome, final or not, so a fault stays on until each record met it.
func (e *env) waitAttempted(ctx context.Context, actions []action, limit time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for _, a := range actions {
		for ctx.Err() == nil && len(e.outcomes.For(a.key)) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// waitSettled waits up to a minute for key's version etag to have its final
// outcome.
func (e *env) waitSettled(ctx context.Context, key, etag string) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for ctx.Err() == nil && !e.settled(key, etag) {
		time.Sleep(100 * time.Millisecond)
	}
}

// settled reports whether key's version etag has an outcome that needs no
// retry.
func (e *env) settled(key, etag string) bool {
	for _, o := range e.outcomes.For(key) {
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
