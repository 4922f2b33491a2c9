package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// The relay is tested against an HTTP server answering like the runtime
// emulator; the end-to-end tests run it against the real one.

// minioEvent is a webhook body the way MinIO posts it.
func minioEvent(key string) string {
	return fmt.Sprintf(`{"EventName":"s3:ObjectCreated:Put","Key":"src/%s","Records":[{"eventName":"s3:ObjectCreated:Put",`+
		`"s3":{"bucket":{"name":"src"},"object":{"key":%q,"eTag":"abc","size":5}}}]}`, key, strings.ReplaceAll(key, "/", "%2F"))
}

type fakeEmulator struct {
	answer     func(n int, body []byte) (status int, response string)
	calls      atomic.Int64
	concurrent atomic.Int64
	maxSeen    atomic.Int64
	bodies     chan []byte
}

func (f *fakeEmulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := f.concurrent.Add(1)
	defer f.concurrent.Add(-1)
	for seen := f.maxSeen.Load(); now > seen && !f.maxSeen.CompareAndSwap(seen, now); seen = f.maxSeen.Load() {
	}
	body, _ := io.ReadAll(r.Body)
	if f.bodies != nil {
		f.bodies <- body
	}
	status, response := f.answer(int(f.calls.Add(1)), body)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(response))
}

// startRelay runs a relay in front of emulators and records its outcomes.
func startRelay(t *testing.T, emulators ...http.Handler) (*relay, *Recorder, string) {
	t.Helper()
	var fns []*function
	for i, e := range emulators {
		server := httptest.NewServer(e)
		t.Cleanup(server.Close)
		fns = append(fns, &function{name: fmt.Sprintf("fake-%d", i+1), invokeURL: server.URL})
	}
	failures := filepath.Join(t.TempDir(), "failures.jsonl")
	rec := NewRecorder()
	r, err := newRelay(newPool(fns, 5*time.Second), failures, rec.Add, nil, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	r.retryDelays = []time.Duration{time.Millisecond, time.Millisecond}
	r.start()
	t.Cleanup(r.stop)
	return r, rec, failures
}

func post(t *testing.T, r *relay, body string) int {
	t.Helper()
	resp, err := http.Post(r.URL(), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func waitOutcome(t *testing.T, rec *Recorder, key string) outcome.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := rec.Wait(ctx, 1, key); err != nil {
		t.Fatal(err)
	}
	o, _ := rec.Last(key)
	return o
}

func TestRelayRetriesLikeLambdaAsync(t *testing.T) {
	tests := []struct {
		name            string
		answer          func(n int) (int, string)
		wantDecision    outcome.Decision
		wantInvocations int64
		wantRecorded    bool
	}{
		{"success", func(int) (int, string) {
			return 200, `{"records":[{"bucket":"src","key":"uploads/a.jpg","decision":"compressed","bytesIn":5,"bytesOut":3}]}`
		}, outcome.Compressed, 1, false},
		{"function error then success", func(n int) (int, string) {
			if n < 3 {
				return 200, `{"errorMessage":"timeout reading","errorType":"Transient"}`
			}
			return 200, `{"records":[{"bucket":"src","key":"uploads/a.jpg","decision":"compressed"}]}`
		}, outcome.Compressed, 3, false},
		{"function error every time", func(int) (int, string) {
			return 200, `{"errorMessage":"boom","errorType":"errorString"}`
		}, outcome.Failed, 3, true},
		{"emulator error", func(int) (int, string) { return 502, `crashed` }, outcome.Failed, 3, true},
		{"not a response", func(int) (int, string) { return 200, `"hello"` }, outcome.Failed, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, rec, failures := startRelay(t, &fakeEmulator{answer: func(n int, _ []byte) (int, string) { return tt.answer(n) }})
			if status := post(t, r, minioEvent("uploads/a.jpg")); status != http.StatusOK {
				t.Fatalf("webhook answered %d, want 200", status)
			}
			o := waitOutcome(t, rec, "uploads/a.jpg")
			if o.Decision != tt.wantDecision {
				t.Errorf("decision %q (%s), want %q", o.Decision, o.Reason, tt.wantDecision)
			}
			if got := r.stats().Invocations; got != tt.wantInvocations {
				t.Errorf("%d invocations, want %d", got, tt.wantInvocations)
			}
			lines := failureRecords(t, failures)
			if recorded := len(lines) == 1; recorded != tt.wantRecorded {
				t.Fatalf("failure records %v, want recorded=%v", lines, tt.wantRecorded)
			}
			if tt.wantRecorded {
				ctx := lines[0]["requestContext"].(map[string]any)
				if ctx["condition"] != "RetriesExhausted" || ctx["approximateInvokeCount"] != 3.0 {
					t.Errorf("failure record context %v, want RetriesExhausted after 3", ctx)
				}
				payload, _ := json.Marshal(lines[0]["requestPayload"])
				if !strings.Contains(string(payload), `uploads%2Fa.jpg`) || strings.Contains(string(payload), "EventName") {
					t.Errorf("failure record payload %s, want the Lambda event (Records only)", payload)
				}
			}
		})
	}
}

// TestRelaySpreadsEventsOverThePool: events run on every function process at
// once, but never two on one (the emulator crashes on a second).
func TestRelaySpreadsEventsOverThePool(t *testing.T) {
	var running, maxRunning atomic.Int64
	answer := func(_ int, body []byte) (int, string) {
		now := running.Add(1)
		defer running.Add(-1)
		for seen := maxRunning.Load(); now > seen && !maxRunning.CompareAndSwap(seen, now); seen = maxRunning.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		var event struct {
			Records []struct {
				S3 struct {
					Object struct{ Key string } `json:"object"`
				} `json:"s3"`
			}
		}
		_ = json.Unmarshal(body, &event)
		key := strings.ReplaceAll(event.Records[0].S3.Object.Key, "%2F", "/")
		return 200, fmt.Sprintf(`{"records":[{"bucket":"src","key":%q,"decision":"compressed"}]}`, key)
	}
	emulators := []*fakeEmulator{{answer: answer}, {answer: answer}, {answer: answer}}
	r, rec, _ := startRelay(t, emulators[0], emulators[1], emulators[2])
	var wg sync.WaitGroup
	var keys []string
	for i := range 30 {
		key := fmt.Sprintf("uploads/%02d.jpg", i)
		keys = append(keys, key)
		wg.Go(func() {
			if status := post(t, r, minioEvent(key)); status != http.StatusOK {
				t.Errorf("webhook answered %d, want 200", status)
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := rec.Wait(ctx, 1, keys...); err != nil {
		t.Fatal(err)
	}
	for i, e := range emulators {
		if got := e.maxSeen.Load(); got != 1 {
			t.Errorf("emulator %d saw %d concurrent invocations, want 1 (it crashes on a second)", i+1, got)
		}
		if e.calls.Load() == 0 {
			t.Errorf("emulator %d got no invocation", i+1)
		}
	}
	if got := maxRunning.Load(); got != int64(len(emulators)) {
		t.Errorf("at most %d invocations ran at once, want %d: one per function process", got, len(emulators))
	}
}

func TestRelayRefusesWhenFullAndRecordsQueuedAtShutdown(t *testing.T) {
	release := make(chan struct{})
	emulator := &fakeEmulator{answer: func(int, []byte) (int, string) {
		<-release
		return 200, `{"records":[]}`
	}}
	emulator.bodies = make(chan []byte, 1)
	r, _, failures := startRelay(t, emulator)
	t.Cleanup(func() { close(release) }) // after stop: the emulator's handler is still waiting
	if status := post(t, r, minioEvent("uploads/first.jpg")); status != http.StatusOK {
		t.Fatalf("webhook answered %d, want 200", status)
	}
	<-emulator.bodies // the worker is now busy with the first event
	for i := range relayQueueSize {
		if status := post(t, r, minioEvent(fmt.Sprintf("uploads/q%d.jpg", i))); status != http.StatusOK {
			t.Fatalf("event %d: webhook answered %d, want 200 while the queue has room", i, status)
		}
	}
	if status := post(t, r, minioEvent("uploads/overflow.jpg")); status != http.StatusServiceUnavailable {
		t.Errorf("with a full queue the webhook answered %d, want 503 so MinIO redelivers", status)
	}
	if got := r.stats().Deliveries; got != relayQueueSize+1 {
		t.Errorf("%d deliveries accepted, want %d", got, relayQueueSize+1)
	}
	r.stop()
	shutdown := 0
	for _, line := range failureRecords(t, failures) {
		if line["requestContext"].(map[string]any)["condition"] == "RelayShutdown" {
			shutdown++
		}
	}
	if shutdown != relayQueueSize+1 {
		t.Errorf("%d events recorded as not processed at shutdown, want %d: the one in flight and every queued one", shutdown, relayQueueSize+1)
	}
}

func TestRelayRejectsWhatIsNotAnEvent(t *testing.T) {
	r, _, _ := startRelay(t, &fakeEmulator{answer: func(int, []byte) (int, string) { return 200, `{"records":[]}` }})
	if status := post(t, r, "not json"); status != http.StatusBadRequest {
		t.Errorf("a body that is not JSON: %d, want 400", status)
	}
	if got := r.stats().Deliveries; got != 0 {
		t.Errorf("%d deliveries, want 0", got)
	}
}

func failureRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("failures file line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}
