package handler_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage/storagetest"
)

// checkOutput checks the destination object of a processed record's only
// output: where it is, what it says about its source, and that it is an image.
func (e *env) checkOutput(t *testing.T, o outcome.Record, sourceKey, wantKey string) {
	t.Helper()
	if len(o.Outputs) != 1 {
		t.Fatalf("outcome %+v: want one output", o)
	}
	e.checkOutputs(t, o, sourceKey, wantKey)
}

// checkOutputs checks each output of a processed record against the key it
// should have, in the order of the settings.
func (e *env) checkOutputs(t *testing.T, o outcome.Record, sourceKey string, wantKeys ...string) {
	t.Helper()
	done := o.Decision.Stored() || o.Decision == outcome.Skipped && outcome.Word(o.Reason) == outcome.ReasonDuplicate
	if !done || o.Key != sourceKey || len(o.Outputs) != len(wantKeys) {
		t.Fatalf("outcome %+v: want key %q compressed, kept-original or found done into %q", o, sourceKey, wantKeys)
	}
	for i, out := range o.Outputs {
		if out.Key != wantKeys[i] {
			t.Errorf("output %d at %q, want %q", i, out.Key, wantKeys[i])
			continue
		}
		if !out.Decision.Stored() && outcome.Word(out.Reason) != outcome.ReasonDuplicate {
			t.Errorf("output %s: %s (%s), want it stored", out.Key, out.Decision, out.Reason)
			continue
		}
		head, ok := e.s3.Head(t, dstBucket, out.Key)
		if !ok {
			t.Fatalf("no destination object s3://%s/%s", dstBucket, out.Key)
		}
		body := e.s3.Get(t, dstBucket, out.Key)
		want := map[string]string{
			storage.OutputMarker: "1",
			"source-bucket":      srcBucket,
			"source-key":         url.QueryEscape(sourceKey),
			"source-etag":        o.ETag,
			"settings-hash":      e.settings.OutputHash(e.settings.Outputs[i]),
			"bytes-out":          strconv.Itoa(len(body)),
			"format":             string(out.Format),
			"width":              strconv.Itoa(out.Width),
			"height":             strconv.Itoa(out.Height),
		}
		if out.Decision.Stored() {
			want["decision"] = string(out.Decision)
			want["bytes-in"] = strconv.FormatInt(o.BytesIn, 10)
		}
		for k, v := range want {
			if head.Metadata[k] != v {
				t.Errorf("s3://%s/%s metadata %s = %q, want %q (all: %v)", dstBucket, out.Key, k, head.Metadata[k], v, head.Metadata)
			}
		}
		if int64(len(body)) != out.Bytes || out.Bytes == 0 {
			t.Errorf("output %s says %d bytes; the destination holds %d bytes", out.Key, out.Bytes, len(body))
		}
		if out.Bytes > o.BytesIn && out.Decision.Stored() && !strings.HasPrefix(out.Reason, outcome.ReasonLarger) {
			t.Errorf("output %s of %d bytes for %d in, without the pipeline saying why (%q)", out.Key, out.Bytes, o.BytesIn, out.Reason)
		}
		if ct := *head.ContentType; ct != out.Format.ContentType() {
			t.Errorf("destination Content-Type %q, want %q", ct, out.Format.ContentType())
		}
	}
}

func TestSpecialKeys(t *testing.T) {
	e := newEnv(t)
	jpeg := photo(t)
	tests := []struct {
		name   string
		key    string
		record func(record) record // how the event carries the key
		rawKey string              // when set, the key exactly as it arrives
	}{
		{name: "spaces and parentheses", key: "uploads/test (1).jpg", rawKey: "uploads/test+%281%29.jpg"},
		{name: "literal plus", key: "uploads/a+b.jpg", rawKey: "uploads/a%2Bb.jpg"},
		{name: "unicode", key: "uploads/Fotos/Ünïcödé 日本 ☃.jpg"},
		{name: "MinIO encodes the slash", key: "uploads/sub dir/photo+1.jpg", record: minio},
		{name: "MinIO literal", key: "uploads/x/test (1).jpg", rawKey: "uploads%2Fx%2Ftest+%281%29.jpg", record: minio},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.upload(t, tt.key, jpeg, nil)
			if tt.record != nil {
				r = tt.record(r)
			}
			if tt.rawKey != "" {
				r.key = tt.rawKey
			}
			resp, err := e.handle(t, context.Background(), s3Event(t, r))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			want := "compressed/" + strings.TrimPrefix(tt.key, "uploads/")
			e.checkOutput(t, resp.Records[0], tt.key, want)
		})
	}
}

func TestBatch(t *testing.T) {
	e := newEnv(t)
	png := rgba(t)
	recs := []record{
		e.upload(t, "uploads/photo.jpg", photo(t), nil),
		e.upload(t, "uploads/rgba.png", png, nil),
		e.upload(t, "uploads/notes.jpg", []byte("Dear diary, this is text in a file called .jpg\n"), nil),
		e.upload(t, "elsewhere/photo.jpg", photo(t), nil),
	}
	resp, err := e.handle(t, context.Background(), s3Event(t, recs...))
	if err != nil {
		t.Fatalf("Handle: %v (a rejected image is not an error to retry)", err)
	}
	e.checkOutput(t, resp.Records[0], "uploads/photo.jpg", "compressed/photo.jpg")
	e.checkOutput(t, resp.Records[1], "uploads/rgba.png", "compressed/rgba.png")
	if o := resp.Records[2]; o.Decision != outcome.Rejected || o.Reason == "" {
		t.Errorf("text named .jpg: outcome %+v, want rejected with a reason", o)
	}
	if o := resp.Records[3]; o.Decision != outcome.Skipped {
		t.Errorf("key outside the prefix: outcome %+v, want skipped", o)
	}
	if got := e.s3.List(t, dstBucket); len(got) != 2 {
		t.Errorf("destination holds %v, want the two processed images only", got)
	}
	if fs := e.reported(t); len(fs) != 1 || fs[0].Key != "uploads/notes.jpg" || fs[0].ETag != recs[2].etag ||
		fs[0].Bucket != srcBucket || fs[0].Decision != outcome.Rejected || fs[0].Reason != resp.Records[2].Reason {
		t.Errorf("failure sink holds %+v, want the rejected upload with bucket, key, ETag %s and reason", fs, recs[2].etag)
	}

	sums := e.metricSums(t)
	want := map[string]float64{"Processed": 2, "Rejected": 1, "Skipped": 1, "Failed": 0,
		"BytesIn":  float64(resp.Records[0].BytesIn + resp.Records[1].BytesIn),
		"BytesOut": float64(resp.Records[0].BytesOut + resp.Records[1].BytesOut),
	}
	want["BytesSaved"] = want["BytesIn"] - want["BytesOut"]
	want["KeptOriginal"] = 0
	for _, o := range resp.Records[:2] {
		if o.Decision == outcome.KeptOriginal {
			want["KeptOriginal"]++
		}
	}
	for name, v := range want {
		if sums[name] != v {
			t.Errorf("metric %s sums to %v, want %v", name, sums[name], v)
		}
	}

	logs := e.logRecords(t)
	if len(logs) != 4 {
		t.Fatalf("%d record log lines, want 4", len(logs))
	}
	for i, line := range logs {
		for _, field := range []string{"key", "decision", "bytesIn", "bytesOut", "ms", "etag", "bucket"} {
			if _, ok := line[field]; !ok {
				t.Errorf("log line %d lacks %q: %v", i, field, line)
			}
		}
	}
	if logs[2]["level"] != "WARN" || logs[2]["reason"] == nil {
		t.Errorf("rejection log line %v: want level WARN and a reason", logs[2])
	}
}

func TestDuplicateDeliveryDoesNoWork(t *testing.T) {
	tests := []struct {
		name     string
		key      string
		body     func(*testing.T) []byte
		settings func(*config.Settings)
		wantKey  string
	}{
		{"same format", "uploads/dup.jpg", photo, func(*config.Settings) {}, "compressed/dup.jpg"},
		{"converted to webp", "uploads/dup.jpg", photo, func(s *config.Settings) { s.Outputs = []config.Output{{Format: "webp"}} }, "compressed/dup.webp"},
		{"AVIF becomes JPEG", "uploads/fox.avif", func(t *testing.T) []byte {
			// The project's ImageMagick policy lets it read AVIF, not write it.
			return fixture.File(t, "linku_fox.profile0.8bpc.yuv420.avif")
		}, func(*config.Settings) {}, "compressed/fox.jpg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withSettings(tt.settings))
			ev := s3Event(t, e.upload(t, tt.key, tt.body(t), nil))
			first, err := e.handle(t, context.Background(), ev)
			if err != nil {
				t.Fatalf("first delivery: %v", err)
			}
			e.checkOutput(t, first.Records[0], tt.key, tt.wantKey)
			stored := e.s3.List(t, dstBucket)
			e.requests.Requests()

			time.Sleep(1100 * time.Millisecond) // a rewrite would show in LastModified (1 s resolution)
			second, err := e.handle(t, context.Background(), ev)
			if err != nil {
				t.Fatalf("second delivery: %v", err)
			}
			if o := second.Records[0]; o.Decision != outcome.Skipped || outcome.Word(o.Reason) != outcome.ReasonDuplicate || len(o.Outputs) != 1 || o.Outputs[0].Key != tt.wantKey {
				t.Errorf("second delivery: outcome %+v, want skipped as a duplicate of %s", o, tt.wantKey)
			}
			for _, r := range e.requests.Requests() {
				if r.Method != http.MethodHead || r.Bucket != dstBucket {
					t.Errorf("second delivery sent %s s3://%s/%s; want only HEADs of the destination", r.Method, r.Bucket, r.Key)
				}
			}
			if after := e.s3.List(t, dstBucket); len(after) != 1 || after[tt.wantKey] != stored[tt.wantKey] {
				t.Errorf("destination after the second delivery %v, want unchanged %v", after, stored)
			}
			if sums := e.metricSums(t); sums["Skipped"] != 1 || sums["Processed"] != 1 {
				t.Errorf("metrics Skipped %v, Processed %v; want 1 and 1", sums["Skipped"], sums["Processed"])
			}
		})
	}
}

func TestSettingsChangeReprocesses(t *testing.T) {
	e := newEnv(t)
	ev := s3Event(t, e.upload(t, "uploads/a.jpg", photo(t), nil))
	first, err := e.handle(t, context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	e.reconfigure(func(s *config.Settings) { s.JPEG.Quality, s.JPEG.TargetScore = 40, 0 })
	second, err := e.handle(t, context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	e.checkOutput(t, second.Records[0], "uploads/a.jpg", "compressed/a.jpg")
	if second.Records[0].BytesOut >= first.Records[0].BytesOut {
		t.Errorf("quality 40 gave %d bytes, quality 80 gave %d; want the new settings applied", second.Records[0].BytesOut, first.Records[0].BytesOut)
	}
}

func TestOverwrittenSinceTheEvent(t *testing.T) {
	e := newEnv(t)
	old := e.upload(t, "uploads/a.jpg", photo(t), nil)
	png := rgba(t)
	current := e.upload(t, "uploads/a.jpg", png, nil)

	resp, err := e.handle(t, context.Background(), s3Event(t, old))
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if o := resp.Records[0]; o.Decision != outcome.Skipped || outcome.Word(o.Reason) != outcome.ReasonOverwritten {
		t.Errorf("event for the old version: outcome %+v, want skipped as overwritten", o)
	}
	if got := e.s3.List(t, dstBucket); len(got) != 0 {
		t.Errorf("destination holds %v after a stale event, want nothing", got)
	}
	resp, err = e.handle(t, context.Background(), s3Event(t, current))
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	e.checkOutput(t, resp.Records[0], "uploads/a.jpg", "compressed/a.jpg")
}

func TestSkips(t *testing.T) {
	e := newEnv(t)
	jpeg := photo(t)
	inPrefix := e.upload(t, "uploads/a.jpg", jpeg, nil)
	tests := []struct {
		name   string
		record record
		reason string
	}{
		{"outside the prefix", e.upload(t, "other/a.jpg", jpeg, nil), outcome.ReasonOutsideFilter},
		{"prefix is not a folder prefix of the key", e.upload(t, "uploads-old/a.jpg", jpeg, nil), outcome.ReasonOutsideFilter},
		{"suffix not configured", e.upload(t, "uploads/a.jpg.txt", jpeg, nil), outcome.ReasonOutsideFilter},
		{"own output", e.upload(t, "uploads/out.jpg", jpeg, map[string]string{storage.OutputMarker: "1"}), outcome.ReasonOwnOutput},
		{"another bucket", func() record { r := inPrefix; r.bucket = "someone-elses"; return r }(), outcome.ReasonOtherBucket},
		{"object removed", func() record { r := inPrefix; r.name = "ObjectRemoved:Delete"; return r }(), outcome.ReasonNotCreated},
		{"MinIO object removed", func() record { r := minio(inPrefix); r.name = "s3:ObjectRemoved:Delete"; return r }(), outcome.ReasonNotCreated},
		{"deleted since the event", record{name: "ObjectCreated:Put", bucket: srcBucket, key: "uploads/gone.jpg", etag: "0123", size: 10}, outcome.ReasonDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.handle(t, context.Background(), s3Event(t, tt.record))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if o := resp.Records[0]; o.Decision != outcome.Skipped || outcome.Word(o.Reason) != tt.reason {
				t.Errorf("outcome %+v, want skipped because %q: ...", o, tt.reason)
			}
		})
	}
	if got := e.s3.List(t, dstBucket); len(got) != 0 {
		t.Errorf("destination holds %v, want nothing", got)
	}
	if fs := e.reported(t); len(fs) != 0 {
		t.Errorf("skips were reported as failures: %+v", fs)
	}
	if sums := e.metricSums(t); sums["Skipped"] != float64(len(tests)) {
		t.Errorf("Skipped sums to %v, want %d", sums["Skipped"], len(tests))
	}
}

func TestBadInputIsRejectedAndReported(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		body   func(*testing.T) []byte
		limit  int64 // maxInputBytes; 0 keeps the default
		size   int64 // size in the event when it lies (0: the real size)
		reason string
	}{
		{"text disguised as JPEG", "uploads/notes.jpg", func(*testing.T) []byte { return []byte("just some words\n") }, 0, 0, outcome.ReasonNotImage},
		{"corrupt JPEG", "uploads/broken.jpg", bogusHuffmanJPEG, 0, 0, outcome.ReasonCorrupt},
		{"truncated JPEG", "uploads/truncated.jpg", truncatedJPEG, 0, 0, outcome.ReasonCorrupt},
		{"too large by the event", "uploads/big.jpg", photo, 1000, 0, outcome.ReasonTooLarge},
		{"too large, event understates", "uploads/big2.jpg", photo, 1000, 10, outcome.ReasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withSettings(func(s *config.Settings) {
				if tt.limit != 0 {
					s.Limits.MaxInputBytes = tt.limit
				}
			}))
			r := e.upload(t, tt.key, tt.body(t), nil)
			if tt.size != 0 {
				r.size = tt.size
			}
			resp, err := e.handle(t, context.Background(), s3Event(t, r))
			if err != nil {
				t.Fatalf("Handle: %v; a rejection must not be retried", err)
			}
			o := resp.Records[0]
			if o.Decision != outcome.Rejected || outcome.Word(o.Reason) != tt.reason || o.Retry {
				t.Errorf("outcome %+v, want rejected for good with a reason starting %q", o, tt.reason)
			}
			if got := e.s3.List(t, dstBucket); len(got) != 0 {
				t.Errorf("destination holds %v, want nothing for bad input", got)
			}
			fs := e.reported(t)
			if len(fs) != 1 || fs[0].Bucket != srcBucket || fs[0].Key != tt.key || fs[0].ETag != r.etag || fs[0].Reason != o.Reason || fs[0].Time.IsZero() {
				t.Errorf("failure sink holds %+v, want one failure for s3://%s/%s ETag %s with reason %q", fs, srcBucket, tt.key, r.etag, o.Reason)
			}
			if sums := e.metricSums(t); sums["Rejected"] != 1 || sums["Processed"] != 0 {
				t.Errorf("metrics Rejected %v, Processed %v; want 1, 0", sums["Rejected"], sums["Processed"])
			}
		})
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	sourceGET := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/"+srcBucket+"/")
	}
	destPUT := func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/"+dstBucket+"/")
	}
	destHEAD := func(r *http.Request) bool {
		return r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/"+dstBucket+"/")
	}
	tests := []struct {
		name   string
		faults *storagetest.Faulty
	}{
		{"source throttled", &storagetest.Faulty{Match: sourceGET, Status: 503, Code: "SlowDown"}},
		{"destination 500", &storagetest.Faulty{Match: destPUT, Status: 500, Code: "InternalError"}},
		{"destination HEAD 503", &storagetest.Faulty{Match: destHEAD, Status: 503, Code: "ServiceUnavailable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withFaults(tt.faults))
			ok := e.upload(t, "uploads/a.jpg", photo(t), nil)
			ev := s3Event(t, ok, e.upload(t, "elsewhere/b.jpg", photo(t), nil))

			resp, err := e.handle(t, context.Background(), ev)
			if err == nil {
				t.Fatalf("Handle returned no error after %d injected %d %s answers; want one so Lambda retries", tt.faults.Hits(), tt.faults.Status, tt.faults.Code)
			}
			if o := resp.Records[0]; o.Decision != outcome.Failed || !o.Retry {
				t.Errorf("outcome %+v, want failed and retried", o)
			}
			if o := resp.Records[1]; o.Decision != outcome.Skipped {
				t.Errorf("the rest of the batch: outcome %+v, want it handled (skipped) despite the failure", o)
			}
			if got := e.s3.List(t, dstBucket); len(got) != 0 {
				t.Errorf("destination holds %v after a failure, want nothing", got)
			}
			if fs := e.reported(t); len(fs) != 0 {
				t.Errorf("a transient failure was reported as permanent: %+v", fs)
			}
			if sums := e.metricSums(t); sums["Failed"] != 1 {
				t.Errorf("Failed sums to %v, want 1", sums["Failed"])
			}

			tt.faults.Status, tt.faults.Match = 0, func(*http.Request) bool { return false } // S3 recovers
			resp, err = e.handle(t, context.Background(), ev)
			if err != nil {
				t.Fatalf("retry after recovery: %v", err)
			}
			e.checkOutput(t, resp.Records[0], "uploads/a.jpg", "compressed/a.jpg")
		})
	}
}

func TestAccessDeniedIsReportedNotRetried(t *testing.T) {
	faults := &storagetest.Faulty{Status: 403, Code: "AccessDenied",
		Match: func(r *http.Request) bool { return r.Method == http.MethodGet }}
	e := newEnv(t, withFaults(faults))
	r := e.upload(t, "uploads/a.jpg", photo(t), nil)
	resp, err := e.handle(t, context.Background(), s3Event(t, r))
	if err != nil {
		t.Fatalf("Handle: %v; retrying cannot fix access denied", err)
	}
	if o := resp.Records[0]; o.Decision != outcome.Failed || o.Retry {
		t.Errorf("outcome %+v, want failed for good", o)
	}
	if fs := e.reported(t); len(fs) != 1 || fs[0].Key != "uploads/a.jpg" || !strings.Contains(fs[0].Reason, "access denied") {
		t.Errorf("failure sink holds %+v, want the access-denied upload", fs)
	}
}

func TestUnreportableFailureIsRetried(t *testing.T) {
	e := newEnv(t, withSink(filepath.Join(t.TempDir(), "no-such-dir", "failures.jsonl")))
	r := e.upload(t, "uploads/notes.jpg", []byte("not an image"), nil)
	resp, err := e.handle(t, context.Background(), s3Event(t, r))
	if err == nil {
		t.Fatal("Handle returned no error although the rejection could not be recorded; want one so nothing is lost")
	}
	if o := resp.Records[0]; o.Decision != outcome.Failed || !o.Retry || !strings.Contains(o.Reason, "reporting it failed") {
		t.Errorf("outcome %+v, want failed, retried, saying the report failed", o)
	}
}

func TestTooLittleTimeLeft(t *testing.T) {
	e := newEnv(t)
	ev := s3Event(t, e.upload(t, "uploads/a.jpg", photo(t), nil), e.upload(t, "uploads/b.jpg", photo(t), nil))
	e.requests.Requests()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := e.handle(t, ctx, ev)
	if err == nil {
		t.Fatal("Handle with 1 s left returned no error; want the records sent back for retry")
	}
	for _, o := range resp.Records {
		if o.Decision != outcome.Failed || !o.Retry || outcome.Word(o.Reason) != outcome.ReasonNotStarted {
			t.Errorf("outcome %+v, want failed (not started) and retried", o)
		}
	}
	if reqs := e.requests.Requests(); len(reqs) != 0 {
		t.Errorf("%d S3 requests for records that were not started, want 0", len(reqs))
	}
}

func TestLogsAreJSONWithTheRecord(t *testing.T) {
	e := newEnv(t)
	r := e.upload(t, "uploads/a b.jpg", photo(t), nil)
	resp, err := e.handle(t, context.Background(), s3Event(t, r))
	if err != nil {
		t.Fatal(err)
	}
	logs := e.logRecords(t)
	if len(logs) != 1 {
		t.Fatalf("%d record log lines, want 1: %s", len(logs), e.logs.String())
	}
	o, line := resp.Records[0], logs[0]
	want := map[string]any{
		"key": "uploads/a b.jpg", "bucket": srcBucket, "etag": r.etag, "decision": string(o.Decision),
		"bytesIn": float64(o.BytesIn), "bytesOut": float64(o.BytesOut), "formatIn": "jpeg",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log field %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	outputs, _ := line["outputs"].([]any)
	if first, _ := outputs[0].(map[string]any); len(outputs) != 1 || first["key"] != "compressed/a b.jpg" || first["format"] != "jpeg" || first["width"] == nil {
		t.Errorf("log field outputs = %v, want the one output with its key, format and size", line["outputs"])
	}
	if _, ok := line["ms"].(float64); !ok {
		t.Errorf("log line has no ms: %v", line)
	}
	if !bytes.Contains(e.metrics.Bytes(), []byte(`"FunctionName":"compressor-test"`)) {
		t.Errorf("metrics lack the FunctionName dimension: %s", e.metrics.String())
	}
}
