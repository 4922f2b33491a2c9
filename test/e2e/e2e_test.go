// Package e2e_test runs the real chain on this machine: uploads to MinIO, its
// bucket notification, the relay, the real bootstrap under the Lambda runtime
// interface emulator, outputs in the destination bucket.
package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus/corpustest"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// burstSize is the number of valid images uploaded at once.
const burstSize = 52

// TestPipeline starts one stack for all subtests. It is a test, not TestMain,
// so that its Cleanup stops the processes and removes the directories even
// when a subtest panics; the children also die with the test binary
// (Pdeathsig) if it is killed by -timeout.
func TestPipeline(t *testing.T) {
	_, bins := binaries(t)
	e := &pipeline{t: t, magick: bins.Magick(), outcomes: local.NewRecorder(),
		deliveries: map[string][][]byte{}, etags: map[string]string{}, deleted: map[string]bool{}}
	settings, avifMissing := local.Renditions(t.Context(), bins)
	if avifMissing != nil {
		t.Logf("the outputs are the original and a WebP only: %v", avifMissing)
	}
	var err error
	e.stack, err = local.Start(t.Context(), local.Options{
		Binaries:   bins,
		Settings:   settings,
		StateDir:   t.TempDir(),
		Log:        testLog{t},
		OnOutcome:  e.outcomes.Add,
		OnDelivery: e.delivered,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stack.Close)

	// Objects no rule matches go first: MinIO delivers in order, so once the
	// burst's outcomes are in, any event these caused would have arrived.
	jpeg := makeImage(t, e.magick, "small.jpg", "wizard:", "-resize", "50%")
	noEvent := []upload{
		{"outside/the-prefix.jpg", jpeg},
		{"uploads/wrong-suffix.bmp", jpeg},
		{"uploads/mixed-case-suffix.Jpg", jpeg},
	}
	for _, u := range noEvent {
		if settings.Matches(u.key) {
			t.Fatalf("%s matches the settings; the no-event case needs a key outside them", u.key)
		}
	}
	e.putAll(noEvent)

	images, generated := corpustest.Images(t, e.magick)
	good := goodImages(t, images, burstSize)
	awkward := []upload{
		{"uploads/awkward/with space.jpg", jpeg},
		{"uploads/awkward/plus+sign.png", makeImage(t, e.magick, "a.png", "logo:", "-resize", "200x")},
		{"uploads/awkward/(parentheses) [1].gif", makeImage(t, e.magick, "a.gif", "-size", "64x48", "pattern:checkerboard")},
		{"uploads/awkward/ünïcödé 写真.jpg", jpeg},
		{"uploads/awkward/percent%20and+plus both.jpg", jpeg},
		{"uploads/awkward/UPPER CASE.JPG", jpeg},
		{"uploads/awkward/deep/ly/nested/key.webp", makeImage(t, e.magick, "a.webp", "logo:", "-resize", "50%")},
	}
	hostile := hostileFiles(t, images, generated)
	photo := upload{renditionsPhoto, makeImage(t, e.magick, "photo.jpg", "-size", "1600x1200", "plasma:fractal", "-quality", "95")}
	var burst []upload
	for _, group := range [][]upload{good, awkward, hostile, {photo}} {
		burst = append(burst, group...)
	}
	start := time.Now()
	e.putAll(burst)
	waitCtx, cancel := withinDeadline(t, 10*time.Minute)
	defer cancel()
	if err := e.outcomes.Wait(waitCtx, 1, keys(burst)...); err != nil {
		t.Fatalf("waiting for the outcome of every upload: %v", err)
	}
	t.Logf("%d concurrent uploads processed in %s", len(burst), time.Since(start).Round(time.Millisecond))

	t.Run("valid images have decodable outputs", func(t *testing.T) {
		for _, u := range good {
			e.checkOutputs(t, u.key)
		}
	})
	t.Run("awkward keys", func(t *testing.T) {
		for _, u := range awkward {
			e.checkOutputs(t, u.key)
		}
	})
	t.Run("renditions", func(t *testing.T) { e.renditions(t) })
	t.Run("corrupt and hostile files are rejected and recorded", func(t *testing.T) {
		failures := e.failureLines(t)
		for _, u := range hostile {
			e.checkRejected(t, u.key, failures)
		}
	})
	t.Run("duplicate delivery", func(t *testing.T) { e.duplicateDelivery(t, renditionsPhoto) })
	t.Run("overwrite", func(t *testing.T) { e.overwrite(t) })
	t.Run("conditional writes", func(t *testing.T) { e.conditionalWrites(t) })
	t.Run("mirrored deletes", func(t *testing.T) { e.mirroredDeletes(t) })

	// What follows looks at everything the subtests above did.
	t.Run("no event outside the filters", func(t *testing.T) {
		for _, u := range noEvent {
			if n := len(e.deliveriesOf(u.key)); n > 0 {
				t.Errorf("%s: %d deliveries, want none (no notification rule matches it)", u.key, n)
			}
			if got := e.outcomes.For(u.key); len(got) > 0 {
				t.Errorf("%s: outcomes %+v, want none", u.key, got)
			}
			e.checkNoOutput(t, u.key)
		}
	})
	t.Run("nothing lost", func(t *testing.T) { e.checkNothingLost(t) })
	t.Run("source untouched", func(t *testing.T) { e.checkSourceUntouched(t) })
	t.Run("no loop", func(t *testing.T) { e.checkNoLoop(t) })
}

// pipeline is the running stack and what the test saw of it.
type pipeline struct {
	t        *testing.T
	stack    *local.Stack
	magick   string
	outcomes *local.Recorder

	mu         sync.Mutex
	deliveries map[string][][]byte // webhook bodies by object key
	reposts    int                 // deliveries the test made itself
	etags      map[string]string   // ETag of the current version of each key
	deleted    map[string]bool     // keys deleted (a delete marker is current)
	// matchingEvents counts the uploads and deletes a notification rule
	// matches, each version of an overwritten key included.
	matchingEvents int
}

func (e *pipeline) delivered(body []byte) {
	var event events.S3Event
	if err := json.Unmarshal(body, &event); err != nil {
		e.t.Errorf("the relay accepted a delivery that is not an S3 event: %v", err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range event.Records {
		key := r.S3.Object.URLDecodedKey
		e.deliveries[key] = append(e.deliveries[key], bytes.Clone(body))
	}
}

func (e *pipeline) deliveriesOf(key string) [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.deliveries[key]
}

// duplicateDelivery posts an event the function has already handled to the
// relay again, as S3's at-least-once delivery may: the function must skip it
// and leave every output alone.
func (e *pipeline) duplicateDelivery(t *testing.T, key string) {
	t.Helper()
	first, ok := e.outcomes.Last(key)
	if !ok || !first.Decision.Stored() {
		t.Fatalf("%s: want a processed outcome to duplicate, got %+v", key, first)
	}
	before := map[string]object{}
	for _, out := range first.Outputs {
		before[out.Key] = e.head(t, e.stack.DestinationBucket, out.Key)
	}
	bodies := e.deliveriesOf(key)
	if len(bodies) != 1 {
		t.Fatalf("%s: %d deliveries captured, want 1", key, len(bodies))
	}
	resp, err := http.Post(e.stack.RelayURL, "application/json", bytes.NewReader(bodies[0]))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("re-posting the event: relay answered %s, want 200", resp.Status)
	}
	e.mu.Lock()
	e.reposts++
	e.mu.Unlock()
	e.wait(t, 2, key)
	all := e.outcomes.For(key)
	if got := all[len(all)-1]; got.Decision != outcome.Skipped || outcome.Word(got.Reason) != outcome.ReasonDuplicate || len(got.Outputs) != len(first.Outputs) {
		t.Errorf("%s delivered again: outcome %s (%s) with %d outputs, want %s as a duplicate of all %d", key, got.Decision, got.Reason, len(got.Outputs), outcome.Skipped, len(first.Outputs))
	}
	for k, was := range before {
		if now := e.head(t, e.stack.DestinationBucket, k); now.etag != was.etag || !now.modified.Equal(was.modified) {
			t.Errorf("%s: the duplicate rewrote the output (ETag %s -> %s, modified %s -> %s), want it untouched", k, was.etag, now.etag, was.modified, now.modified)
		}
	}
}

// overwrite uploads a second version of a key, once after the first was
// processed and once right behind it: the newest content must win.
func (e *pipeline) overwrite(t *testing.T) {
	t.Helper()
	older := makeImage(t, e.magick, "older.jpg", "-size", "300x200", "plasma:fractal", "-quality", "95")
	newer := makeImage(t, e.magick, "newer.jpg", "-size", "500x400", "gradient:green-yellow", "-quality", "95")

	sequential := "uploads/overwrite/after-processing.jpg"
	e.putAll([]upload{{sequential, older}})
	e.wait(t, 1, sequential)
	e.putAll([]upload{{sequential, newer}})

	racing := "uploads/overwrite/right-behind.jpg"
	e.putAll([]upload{{racing, older}})
	e.putAll([]upload{{racing, newer}})

	e.wait(t, 2, sequential, racing)
	for _, key := range []string{sequential, racing} {
		for _, o := range e.outcomes.For(key) {
			t.Logf("%s: %s %s (%s)", key, o.ETag, o.Decision, o.Reason)
			if o.Decision == outcome.Failed || o.Decision == outcome.Rejected {
				t.Errorf("%s: outcome %s (%s), want each version processed or skipped as stale", key, o.Decision, o.Reason)
			}
		}
		if outs := e.checkOutputs(t, key); len(outs) == 0 || outs[0].width != 500 || outs[0].height != 400 {
			t.Errorf("%s: outputs %+v, want the original's the newer version's 500x400", key, outs)
		}
	}
}

func (e *pipeline) wait(t *testing.T, n int, keys ...string) {
	t.Helper()
	ctx, cancel := withinDeadline(t, 2*time.Minute)
	defer cancel()
	if err := e.outcomes.Wait(ctx, n, keys...); err != nil {
		t.Fatal(err)
	}
}

// withinDeadline bounds a wait by d and by the test binary's -timeout, less a
// margin: failing before the timeout's panic lets Cleanup stop the processes
// and remove the directories.
func withinDeadline(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	if deadline, ok := t.Deadline(); ok && time.Until(deadline)-15*time.Second < d {
		d = time.Until(deadline) - 15*time.Second
	}
	return context.WithTimeout(t.Context(), d)
}

func keys(uploads []upload) []string {
	out := make([]string, len(uploads))
	for i, u := range uploads {
		out[i] = u.key
	}
	return out
}

// binaries finds the repository above this package and builds (or finds
// cached) the programs a local stack runs.
func binaries(t *testing.T) (root string, bins local.Binaries) {
	t.Helper()
	root, err := local.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	bins, err = local.Prepare(t.Context(), root, filepath.Join(t.TempDir(), "bin"), testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	return root, bins
}

// testLog sends the stack's messages to the test log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
