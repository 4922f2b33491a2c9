package handler_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/failures"
	"github.com/s3-image-compressor/s3-image-compressor/function/handler"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/metrics"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage/storagetest"
)

const (
	srcBucket = "uploads-bucket"
	dstBucket = "compressed-bucket"
)

func TestMain(m *testing.M) {
	if err := pipeline.Initialize(1 << 30); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline.Initialize:", err)
		os.Exit(1)
	}
	code := m.Run()
	pipeline.Terminate()
	os.Exit(code)
}

// photo is a camera JPEG with EXIF and GPS, which the pipeline compresses.
func photo(t *testing.T) []byte {
	t.Helper()
	return fixture.FileOr(t, "exifsamples_DSCN0010_gps.jpg", func(tb testing.TB) []byte {
		jpeg := fixture.Pattern(tb, "plasma:fractal", 640, 480, "JPEG", fixture.Quality(98))
		return fixture.WithAPP1(jpeg, fixture.GPSExif(1))
	})
}

// rgba is a PNG with an alpha channel.
func rgba(t *testing.T) []byte {
	t.Helper()
	return fixture.FileOr(t, "libvips_rgba.png", func(tb testing.TB) []byte {
		return fixture.Pattern(tb, "gradient:none-red", 128, 128, "PNG")
	})
}

// truncatedJPEG is a JPEG cut short, which libjpeg would "recover" into a
// partly grey picture. (The corpus's pillow_truncated_jpeg.jpg lacks only
// the last byte of EOI: its scans are whole, and it is accepted.)
func truncatedJPEG(t *testing.T) []byte {
	t.Helper()
	b := fixture.Pattern(t, "plasma:fractal", 256, 256, "JPEG")
	return b[:len(b)/2]
}

// bogusHuffmanJPEG is a JPEG whose Huffman table declares more codes than
// exist, which libjpeg refuses.
func bogusHuffmanJPEG(t *testing.T) []byte {
	t.Helper()
	return fixture.FileOr(t, "mdx_its_jpg_551c2656a4f6f9f5ea7e9945b9081202.jpg", func(tb testing.TB) []byte {
		b := fixture.Pattern(tb, "plasma:fractal", 64, 64, "JPEG")
		dht := bytes.Index(b, []byte{0xFF, 0xC4})
		if dht < 0 || len(b) < dht+21 {
			tb.Fatalf("generated JPEG has no Huffman table to break")
		}
		copy(b[dht+5:dht+21], bytes.Repeat([]byte{0xFF}, 16)) // 16 counts of 255 codes: more than 256 symbols
		return b
	})
}

// env is a handler wired to a real S3 API, the real pipeline, a file failure
// sink, and buffers for its logs and metrics.
type env struct {
	s3       *storagetest.Server
	requests *storagetest.Recorder
	settings config.Settings
	h        *handler.Handler
	logs     bytes.Buffer
	metrics  bytes.Buffer
	sink     string // failure sink path
	config   handler.Config
}

// reconfigure replaces the handler with one whose settings are changed.
func (e *env) reconfigure(change func(*config.Settings)) {
	change(&e.config.Settings)
	e.settings = e.config.Settings
	e.h = handler.New(e.config)
}

type envOption func(*handler.Config, *env)

// withFaults sends the handler's S3 requests through faults.
func withFaults(faults *storagetest.Faulty) envOption {
	return func(_ *handler.Config, e *env) { e.requests.Next = faults }
}

func withSettings(change func(*config.Settings)) envOption {
	return func(c *handler.Config, _ *env) { change(&c.Settings) }
}

func withSink(path string) envOption {
	return func(c *handler.Config, e *env) { e.sink, c.Failures = path, failures.NewFile(path) }
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{s3: storagetest.Start(t), requests: &storagetest.Recorder{}}
	e.s3.CreateBucket(t, srcBucket)
	e.s3.CreateBucket(t, dstBucket)
	e.sink = filepath.Join(t.TempDir(), "failures.jsonl")

	settings := config.Default()
	settings.DestinationPrefix = "compressed/"
	client := e.s3.NewClient(e.requests, func(o *s3.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxBackoff = 5 * time.Millisecond })
	})
	c := handler.Config{
		Settings:    settings,
		Source:      storage.NewSource(client, srcBucket),
		Destination: storage.NewDestination(client, dstBucket),
		Failures:    failures.NewFile(e.sink),
		Metrics:     metrics.New(&e.metrics, "compressor-test"),
		Log:         slog.New(slog.NewJSONHandler(&e.logs, nil)),
	}
	for _, opt := range opts {
		opt(&c, e)
	}
	e.config = c
	e.settings = c.Settings
	e.h = handler.New(c)
	t.Cleanup(func() { e.checkSourceOnlyRead(t) })
	return e
}

// handle runs the handler on ev and checks that the source bucket is exactly
// as it was: same keys, same ETags, same modification times.
func (e *env) handle(t *testing.T, ctx context.Context, ev events.S3Event) (outcome.Response, error) {
	t.Helper()
	before := e.s3.List(t, srcBucket)
	resp, err := e.h.Handle(ctx, ev)
	if after := e.s3.List(t, srcBucket); !maps.Equal(before, after) {
		t.Errorf("the source bucket changed:\nbefore %v\nafter  %v", before, after)
	}
	if len(resp.Records) != len(ev.Records) {
		t.Fatalf("Handle returned %d outcomes for %d records", len(resp.Records), len(ev.Records))
	}
	return resp, err
}

// checkSourceOnlyRead fails the test if the handler sent anything but GET and
// HEAD to the source bucket, whatever the outcome.
func (e *env) checkSourceOnlyRead(t *testing.T) {
	t.Helper()
	for _, r := range e.requests.Requests() {
		if r.Bucket == srcBucket && r.Method != http.MethodGet && r.Method != http.MethodHead {
			t.Errorf("the handler sent %s %s to the source bucket; it may only read it", r.Method, r.Key)
		}
	}
}

// record describes one S3 event record.
type record struct {
	name   string // eventName
	source string // eventSource
	bucket string
	key    string // as it arrives, URL-encoded
	etag   string
	size   int64
}

// upload stores body in the source bucket under key and returns the record
// AWS would send for it: keys URL-encoded like a query string, "/" kept.
func (e *env) upload(t *testing.T, key string, body []byte, meta map[string]string) record {
	t.Helper()
	etag := e.s3.Put(t, srcBucket, key, body, meta)
	return record{
		name: "ObjectCreated:Put", source: "aws:s3", bucket: srcBucket,
		key: strings.ReplaceAll(url.QueryEscape(key), "%2F", "/"), etag: etag, size: int64(len(body)),
	}
}

// minio turns an AWS record into the one MinIO sends for the same upload.
func minio(r record) record {
	key, _ := url.QueryUnescape(r.key)
	r.name, r.source, r.key = "s3:ObjectCreated:Put", "minio:s3", url.QueryEscape(key)
	return r
}

// s3Event renders records as the JSON S3 delivers and decodes it the way the
// Lambda runtime does, so key decoding is exercised as in production.
func s3Event(t *testing.T, records ...record) events.S3Event {
	t.Helper()
	var raw []map[string]any
	for i, r := range records {
		raw = append(raw, map[string]any{
			"eventVersion": "2.1", "eventSource": r.source, "awsRegion": "us-east-1",
			"eventTime": time.Now().UTC().Format(time.RFC3339Nano), "eventName": r.name,
			"s3": map[string]any{
				"s3SchemaVersion": "1.0", "configurationId": "compress",
				"bucket": map[string]any{"name": r.bucket, "arn": "arn:aws:s3:::" + r.bucket},
				"object": map[string]any{"key": r.key, "size": r.size, "eTag": r.etag, "sequencer": fmt.Sprintf("%016X", i)},
			},
		})
	}
	doc, err := json.Marshal(map[string]any{"Records": raw})
	if err != nil {
		t.Fatal(err)
	}
	var ev events.S3Event
	if err := json.Unmarshal(doc, &ev); err != nil {
		t.Fatalf("decode event %s: %v", doc, err)
	}
	return ev
}

// metricSums adds up every metric over the EMF lines written so far.
func (e *env) metricSums(t *testing.T) map[string]float64 {
	t.Helper()
	sums := map[string]float64{}
	for sc := bufio.NewScanner(bytes.NewReader(e.metrics.Bytes())); sc.Scan(); {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		for _, name := range []string{metrics.Processed, metrics.KeptOriginal, metrics.Rejected, metrics.Failed,
			metrics.Skipped, metrics.Deleted, metrics.BytesIn, metrics.BytesOut, metrics.BytesSaved, metrics.Duration} {
			v, ok := doc[name].(float64)
			if !ok {
				t.Errorf("metrics line lacks %s: %s", name, sc.Text())
			}
			sums[name] += v
		}
	}
	return sums
}

// logRecords returns the "record" log lines.
func (e *env) logRecords(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for sc := bufio.NewScanner(bytes.NewReader(e.logs.Bytes())); sc.Scan(); {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if line["msg"] == "record" {
			lines = append(lines, line)
		}
	}
	return lines
}

// reported returns the failures in the sink.
func (e *env) reported(t *testing.T) []failures.Failure {
	t.Helper()
	b, err := os.ReadFile(e.sink)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var fs []failures.Failure
	for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); {
		var f failures.Failure
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("failure line %q: %v", sc.Text(), err)
		}
		fs = append(fs, f)
	}
	return fs
}
