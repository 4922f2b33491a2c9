package handler_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/handler"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage/storagetest"
)

// renditions is the original, a WebP and, where this ImageMagick writes
// AVIF, an AVIF, both at 320 px (the photo is 640 px wide).
func renditions(t *testing.T) func(*config.Settings) {
	return func(s *config.Settings) {
		s.Outputs = []config.Output{{Format: config.Original}, {Format: "webp", MaxWidth: 320, Suffix: "-320"}}
		avif := config.Output{Format: "avif", MaxWidth: 320, Suffix: "-320"}
		if err := pipeline.CheckOutputs(config.Settings{Outputs: []config.Output{avif}}); err != nil {
			t.Logf("no AVIF output: %v", err)
			return
		}
		s.Outputs = append(s.Outputs, avif)
	}
}

// keysOf are the destination keys of the renditions of uploads/NAME.jpg.
func keysOf(s config.Settings, name string) []string {
	var keys []string
	for _, o := range s.Outputs {
		keys = append(keys, s.OutputKey("uploads/"+name+".jpg", o))
	}
	return keys
}

func TestRenditions(t *testing.T) {
	e := newEnv(t, withSettings(renditions(t)))
	ev := s3Event(t, e.upload(t, "uploads/a.jpg", photo(t), nil))
	first, err := e.handle(t, context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	o := first.Records[0]
	e.checkOutputs(t, o, "uploads/a.jpg", keysOf(e.settings, "a")...)
	for _, out := range o.Outputs[1:] {
		if out.Width != 320 || out.Decision != outcome.Compressed {
			t.Errorf("%s: %s %d px wide, want compressed at 320 px", out.Key, out.Decision, out.Width)
		}
	}
	if want := o.Outputs[0].Bytes + o.Outputs[1].Bytes; len(o.Outputs) == 2 && o.BytesOut != want {
		t.Errorf("record BytesOut %d, want the outputs' sum %d", o.BytesOut, want)
	}
	stored := e.s3.List(t, dstBucket)
	e.requests.Requests()

	time.Sleep(1100 * time.Millisecond) // a rewrite would show in LastModified (1 s resolution)
	second, err := e.handle(t, context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if o := second.Records[0]; o.Decision != outcome.Skipped || outcome.Word(o.Reason) != outcome.ReasonDuplicate || len(o.Outputs) != len(e.settings.Outputs) {
		t.Errorf("second delivery: %+v, want skipped as a duplicate, with every output listed", o)
	}
	for _, r := range e.requests.Requests() {
		if r.Method != http.MethodHead || r.Bucket != dstBucket {
			t.Errorf("second delivery sent %s s3://%s/%s; want only HEADs of the destination", r.Method, r.Bucket, r.Key)
		}
	}
	if after := e.s3.List(t, dstBucket); len(after) != len(stored) {
		t.Errorf("destination after the second delivery %v, want unchanged %v", after, stored)
	} else {
		for k, v := range stored {
			if after[k] != v {
				t.Errorf("%s was rewritten: %+v -> %+v", k, v, after[k])
			}
		}
	}
	sums := e.metricSums(t)
	if sums["Processed"] != 1 || sums["Skipped"] != 1 || sums["BytesOut"] != float64(o.BytesOut) {
		t.Errorf("metrics %v, want one processed record of %d bytes out and one skipped", sums, o.BytesOut)
	}
}

// TestRetryRedoesOnlyMissingOutputs: an output whose write failed fails the
// record for retry; the retry writes only that output.
func TestRetryRedoesOnlyMissingOutputs(t *testing.T) {
	webpPUT := func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "-320.webp")
	}
	faults := &storagetest.Faulty{Match: webpPUT, Status: 500, Code: "InternalError"}
	e := newEnv(t, withSettings(renditions(t)), withFaults(faults))
	ev := s3Event(t, e.upload(t, "uploads/a.jpg", photo(t), nil))
	keys := keysOf(e.settings, "a")

	resp, err := e.handle(t, context.Background(), ev)
	if err == nil {
		t.Fatal("Handle with a failing output write returned no error; want the event retried")
	}
	o := resp.Records[0]
	if o.Decision != outcome.Failed || !o.Retry || o.Outputs[0].Decision != outcome.Compressed || o.Outputs[1].Decision != outcome.Failed {
		t.Fatalf("outcome %+v, want failed for retry with the original written and the webp failed", o)
	}
	if _, ok := e.s3.Head(t, dstBucket, keys[0]); !ok {
		t.Errorf("the original output was not written before the failing one")
	}
	stored := e.s3.List(t, dstBucket)
	faults.Status, faults.Match = 0, func(*http.Request) bool { return false }
	e.requests.Requests()

	resp, err = e.handle(t, context.Background(), ev)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	o = resp.Records[0]
	e.checkOutputs(t, o, "uploads/a.jpg", keys...)
	if o.Outputs[0].Decision != outcome.Skipped || o.Outputs[1].Decision != outcome.Compressed {
		t.Errorf("retry outputs %+v, want the original skipped as done and the webp written", o.Outputs)
	}
	for _, r := range e.requests.Requests() {
		if r.Method == http.MethodPut && r.Key == keys[0] {
			t.Errorf("the retry wrote %s again", keys[0])
		}
	}
	if after := e.s3.List(t, dstBucket); after[keys[0]] != stored[keys[0]] {
		t.Errorf("%s changed on the retry: %+v -> %+v", keys[0], stored[keys[0]], after[keys[0]])
	}
}

// TestAddedOutputIsMadeAlone: a new output in the settings is made on the
// next delivery without touching the outputs already there.
func TestAddedOutputIsMadeAlone(t *testing.T) {
	e := newEnv(t)
	ev := s3Event(t, e.upload(t, "uploads/a.jpg", photo(t), nil))
	if _, err := e.handle(t, context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	e.reconfigure(func(s *config.Settings) {
		s.Outputs = append(s.Outputs, config.Output{Format: "webp", Suffix: "-small", MaxWidth: 100})
	})
	e.requests.Requests()
	resp, err := e.handle(t, context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	e.checkOutputs(t, resp.Records[0], "uploads/a.jpg", "compressed/a.jpg", "compressed/a-small.webp")
	var puts []string
	for _, r := range e.requests.Requests() {
		if r.Method == http.MethodPut {
			puts = append(puts, r.Key)
		}
	}
	if len(puts) != 1 || puts[0] != "compressed/a-small.webp" {
		t.Errorf("PUTs %q, want only the new output", puts)
	}
}

// hook calls fn once, just before the first request that match accepts is
// sent on, to let another writer act in the middle of a handler's work.
type hook struct {
	next  http.RoundTripper
	match func(*http.Request) bool
	fn    func()
	once  sync.Once
}

func (h *hook) RoundTrip(r *http.Request) (*http.Response, error) {
	if h.match(r) {
		h.once.Do(h.fn)
	}
	next := h.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// other is a second handler with e's settings on a client without faults or
// hooks: another invocation running at the same time.
func (e *env) other() *handler.Handler {
	c := e.config
	c.Source = storage.NewSource(e.s3.Client, srcBucket)
	c.Destination = storage.NewDestination(e.s3.Client, dstBucket)
	return handler.New(c)
}

// TestOlderVersionNeverOverwritesNewer: while one invocation makes the
// outputs of an upload, the key is uploaded again and another invocation
// writes the newer version's outputs first. The first one, about to write,
// loses its conditional write, sees that its version is no longer current
// and writes nothing.
func TestOlderVersionNeverOverwritesNewer(t *testing.T) {
	for _, when := range []struct {
		name  string
		match func(*http.Request) bool
	}{
		// The newer version lands before the older one's check of the source.
		{"before the check", func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/"+srcBucket+"/")
		}},
		// It lands between the check and the write: the conditional write decides.
		{"between the check and the write", func(r *http.Request) bool {
			return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/"+dstBucket+"/")
		}},
	} {
		t.Run(when.name, func(t *testing.T) {
			h := &hook{match: when.match}
			e := newEnv(t, withSettings(renditions(t)), func(_ *handler.Config, e *env) { e.requests.Next = h })
			older := e.upload(t, "uploads/a.jpg", photo(t), nil)
			png := rgba(t)
			var newer outcome.Record
			h.fn = func() {
				ev := s3Event(t, e.upload(t, "uploads/a.jpg", png, nil))
				resp, err := e.other().Handle(context.Background(), ev)
				if err != nil {
					t.Errorf("the newer version's invocation: %v", err)
				}
				newer = resp.Records[0]
			}
			resp, err := e.h.Handle(context.Background(), s3Event(t, older)) // not e.handle: the source does change
			if err != nil {
				t.Fatal(err)
			}
			if o := resp.Records[0]; o.Decision != outcome.Skipped || outcome.Word(o.Reason) != outcome.ReasonOverwritten {
				t.Errorf("the older version's outcome %+v, want skipped as overwritten", o)
			}
			e.checkOutputs(t, newer, "uploads/a.jpg", keysOf(e.settings, "a")...)
			for _, out := range newer.Outputs {
				head, _ := e.s3.Head(t, dstBucket, out.Key)
				if head.Metadata["source-etag"] != newer.ETag {
					t.Errorf("%s comes from version %s, want the newer %s", out.Key, head.Metadata["source-etag"], newer.ETag)
				}
			}
		})
	}
}

// TestSameOutputWrittenMeanwhile: another invocation of the same event wrote
// the output between this one's read and write: nothing is written twice.
func TestSameOutputWrittenMeanwhile(t *testing.T) {
	h := &hook{match: func(r *http.Request) bool { return r.Method == http.MethodPut }}
	e := newEnv(t, func(_ *handler.Config, e *env) { e.requests.Next = h })
	ev := s3Event(t, e.upload(t, "uploads/a.jpg", photo(t), nil))
	h.fn = func() {
		if _, err := e.other().Handle(context.Background(), ev); err != nil {
			t.Errorf("the other invocation: %v", err)
		}
	}
	resp, err := e.handle(t, context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if out := resp.Records[0].Outputs[0]; out.Decision != outcome.Skipped || outcome.Word(out.Reason) != outcome.ReasonDuplicate {
		t.Errorf("output %+v, want skipped as written by the other invocation", out)
	}
	e.checkOutput(t, resp.Records[0], "uploads/a.jpg", "compressed/a.jpg")
}

// removal is the event S3 sends when key is deleted (name
// ObjectRemoved:Delete) or hidden by a delete marker.
func removal(name, key string) record {
	return record{name: name, source: "aws:s3", bucket: srcBucket, key: key}
}

func TestMirrorDeletes(t *testing.T) {
	e := newEnv(t, withSettings(func(s *config.Settings) { renditions(t)(s); s.MirrorDeletes = true }))
	for _, name := range []string{"a", "b"} {
		if _, err := e.handle(t, context.Background(), s3Event(t, e.upload(t, "uploads/"+name+".jpg", photo(t), nil))); err != nil {
			t.Fatal(err)
		}
	}
	e.s3.Put(t, dstBucket, "compressed/c.jpg", []byte("someone else's"), nil) // at an output key of uploads/c.jpg
	before := e.s3.List(t, dstBucket)
	deleteObject(t, e, "uploads/a.jpg", "")

	resp, err := e.handle(t, context.Background(), s3Event(t, removal("ObjectRemoved:Delete", "uploads/a.jpg"), removal("ObjectRemoved:Delete", "uploads/c.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	a, c := resp.Records[0], resp.Records[1]
	if a.Decision != outcome.Deleted || len(a.Outputs) != len(e.settings.Outputs) {
		t.Errorf("delete of a.jpg: %+v, want its %d outputs deleted", a, len(e.settings.Outputs))
	}
	if c.Decision != outcome.Skipped || outcome.Word(c.Reason) != outcome.ReasonNothingToDelete {
		t.Errorf("delete of c.jpg, which has no outputs: %+v, want skipped, nothing to delete", c)
	}
	after := e.s3.List(t, dstBucket)
	for key := range before {
		_, kept := after[key]
		if gone := strings.HasPrefix(key, "compressed/a"); kept == gone {
			t.Errorf("%s: kept %v after deleting uploads/a.jpg; want only a.jpg's outputs gone", key, kept)
		}
	}
	if sums := e.metricSums(t); sums["Deleted"] != float64(len(e.settings.Outputs)) {
		t.Errorf("Deleted sums to %v, want %d", sums["Deleted"], len(e.settings.Outputs))
	}
}

// TestMirrorDeletesVersions: in a versioned source bucket, deleting an older
// version leaves the current version's outputs; a delete marker removes them.
func TestMirrorDeletesVersions(t *testing.T) {
	e := newEnv(t, withSettings(func(s *config.Settings) { s.MirrorDeletes = true }))
	if _, err := e.s3.Client.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket: aws.String(srcBucket), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatal(err)
	}
	e.upload(t, "uploads/v.jpg", rgba(t), nil)
	versions := listVersions(t, e, "uploads/v.jpg")
	current := e.upload(t, "uploads/v.jpg", photo(t), nil)
	if _, err := e.handle(t, context.Background(), s3Event(t, current)); err != nil {
		t.Fatal(err)
	}
	deleteObject(t, e, "uploads/v.jpg", versions[0])
	resp, err := e.handle(t, context.Background(), s3Event(t, removal("ObjectRemoved:Delete", "uploads/v.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	if o := resp.Records[0]; o.Decision != outcome.Skipped || outcome.Word(o.Reason) != outcome.ReasonStillCurrent {
		t.Errorf("delete of the older version: %+v, want skipped, the current version's outputs kept", o)
	}
	if _, ok := e.s3.Head(t, dstBucket, "compressed/v.jpg"); !ok {
		t.Fatal("the current version's output was deleted with an older version")
	}

	deleteObject(t, e, "uploads/v.jpg", "") // a delete marker
	resp, err = e.handle(t, context.Background(), s3Event(t, removal("ObjectRemoved:DeleteMarkerCreated", "uploads/v.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	if o := resp.Records[0]; o.Decision != outcome.Deleted || len(o.Outputs) != 1 || o.Outputs[0].Key != "compressed/v.jpg" {
		t.Errorf("delete marker: %+v, want the output deleted", o)
	}
	if _, ok := e.s3.Head(t, dstBucket, "compressed/v.jpg"); ok {
		t.Error("the output survived the delete marker")
	}
}

func deleteObject(t *testing.T, e *env, key, version string) {
	t.Helper()
	in := &s3.DeleteObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	if _, err := e.s3.Client.DeleteObject(context.Background(), in); err != nil {
		t.Fatalf("delete s3://%s/%s (version %q): %v", srcBucket, key, version, err)
	}
}

func listVersions(t *testing.T, e *env, key string) []string {
	t.Helper()
	out, err := e.s3.Client.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(srcBucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range out.Versions {
		ids = append(ids, aws.ToString(v.VersionId))
	}
	return ids
}

// TestKeyTakenByAnotherUpload: uploads/a.jpg and uploads/a.jpeg both make
// uploads/a-320.webp. The second must not silently replace the first's
// rendition: it is rejected and reported, until the first's version is no
// longer current.
func TestKeyTakenByAnotherUpload(t *testing.T) {
	e := newEnv(t, withSettings(func(s *config.Settings) {
		s.Outputs = []config.Output{{Format: config.Original}, {Format: "webp", MaxWidth: 320, Suffix: "-320"}}
	}))
	shared := e.settings.OutputKey("uploads/a.jpg", e.settings.Outputs[1])
	if other := e.settings.OutputKey("uploads/a.jpeg", e.settings.Outputs[1]); other != shared {
		t.Fatalf("the two uploads' WebP keys are %s and %s; the test needs them equal", shared, other)
	}
	if _, err := e.handle(t, context.Background(), s3Event(t, e.upload(t, "uploads/a.jpg", photo(t), nil))); err != nil {
		t.Fatal(err)
	}
	owner := func() string {
		head, ok := e.s3.Head(t, dstBucket, shared)
		if !ok {
			t.Fatalf("%s is missing", shared)
		}
		return head.Metadata["source-key"]
	}
	first := owner()

	second := e.upload(t, "uploads/a.jpeg", photo(t), nil)
	resp, err := e.handle(t, context.Background(), s3Event(t, second))
	if err != nil {
		t.Fatalf("Handle: %v; a taken key is not worth a retry", err)
	}
	o := resp.Records[0]
	if o.Decision != outcome.Rejected || o.Retry || len(o.Outputs) != 2 ||
		o.Outputs[0].Decision == outcome.Rejected || outcome.Word(o.Outputs[1].Reason) != outcome.ReasonKeyTaken {
		t.Fatalf("outcome %+v, want rejected for good: the original written, the WebP's key taken", o)
	}
	if got := owner(); got != first {
		t.Errorf("%s now names source %q, want %q's rendition left alone", shared, got, first)
	}
	if fs := e.reported(t); len(fs) != 1 || fs[0].Key != "uploads/a.jpeg" || !strings.Contains(fs[0].Reason, outcome.ReasonKeyTaken) {
		t.Errorf("failure sink holds %+v, want the taken key of uploads/a.jpeg", fs)
	}

	// uploads/a.jpg overwritten (its event not handled yet): its rendition
	// is stale, and the other upload may have the key.
	e.s3.Put(t, srcBucket, "uploads/a.jpg", photo(t)[:len(photo(t))-1], nil)
	if resp, err = e.handle(t, context.Background(), s3Event(t, second)); err != nil {
		t.Fatal(err)
	}
	if o := resp.Records[0]; o.Decision != outcome.Compressed && o.Decision != outcome.KeptOriginal {
		t.Errorf("after the first upload changed: %+v, want the WebP made", o)
	}
	if got := owner(); got != url.QueryEscape("uploads/a.jpeg") {
		t.Errorf("%s names source %q, want uploads/a.jpeg", shared, got)
	}
}

// TestRejectedVersionSupersedesOlderOutputs: with mirrorDeletes, an upload
// replaced by a file that is rejected loses its outputs, which would stand
// for the rejected file; without, they stay, as a deleted upload's do.
func TestRejectedVersionSupersedesOlderOutputs(t *testing.T) {
	for _, mirror := range []bool{true, false} {
		e := newEnv(t, withSettings(func(s *config.Settings) { renditions(t)(s); s.MirrorDeletes = mirror }))
		if _, err := e.handle(t, context.Background(), s3Event(t, e.upload(t, "uploads/a.jpg", photo(t), nil))); err != nil {
			t.Fatal(err)
		}
		resp, err := e.handle(t, context.Background(), s3Event(t, e.upload(t, "uploads/a.jpg", []byte("not an image"), nil)))
		if err != nil {
			t.Fatal(err)
		}
		o := resp.Records[0]
		if o.Decision != outcome.Rejected {
			t.Fatalf("mirrorDeletes %v: %+v, want the new version rejected", mirror, o)
		}
		left := 0
		for _, key := range keysOf(e.settings, "a") {
			if _, ok := e.s3.Head(t, dstBucket, key); ok {
				left++
			}
		}
		switch {
		case mirror && (left != 0 || len(o.Outputs) != len(e.settings.Outputs) || outcome.Word(o.Outputs[0].Reason) != outcome.ReasonSuperseded):
			t.Errorf("mirrorDeletes: %d older outputs left, outputs %+v; want every one deleted as superseded", left, o.Outputs)
		case !mirror && left != len(e.settings.Outputs):
			t.Errorf("without mirrorDeletes: %d of %d older outputs left, want all (the function may not delete)", left, len(e.settings.Outputs))
		}
	}
}
