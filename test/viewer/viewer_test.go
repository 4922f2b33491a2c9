package viewer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/tiff"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage/storagetest"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
	"github.com/s3-image-compressor/s3-image-compressor/test/viewer"
)

const (
	sourceBucket = "source"
	destBucket   = "destination"
)

// fixture is a viewer in front of an in-process S3.
type fixture struct {
	t    *testing.T
	s3   *storagetest.Server
	feed *viewer.Feed
	url  string // http://127.0.0.1:PORT
	host string // 127.0.0.1:PORT
}

func start(t *testing.T, options ...func(*viewer.Options)) *fixture {
	t.Helper()
	t.Setenv("AWS_CA_BUNDLE", "") // makes the SDK refuse a custom HTTP client
	f := &fixture{t: t, s3: storagetest.Start(t), feed: viewer.NewFeed()}
	f.s3.CreateBucket(t, sourceBucket)
	f.s3.CreateBucket(t, destBucket)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.host = ln.Addr().String()
	f.url = "http://" + f.host
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := viewer.Options{Feed: f.feed, S3: f.s3.Client,
		SourceBucket: sourceBucket, DestinationBucket: destBucket, Settings: config.Default()}
	for _, option := range options {
		option(&o)
	}
	go func() { done <- viewer.Serve(ctx, ln, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return f
}

// putOutput stores an output the way the function does, provenance included.
func (f *fixture) putOutput(key, sourceKey string, decision outcome.Decision, body []byte, bytesIn int64) {
	f.t.Helper()
	d := storage.NewDestination(f.s3.Client, destBucket)
	over, err := d.Current(context.Background(), key)
	if err != nil {
		f.t.Fatal(err)
	}
	err = d.Put(context.Background(), storage.Output{
		Key: key, Body: body, ContentType: outcome.PNG.ContentType(),
		Provenance: storage.Provenance{SourceBucket: sourceBucket, SourceKey: sourceKey, SourceETag: "etag",
			SettingsHash: "hash", Decision: decision, BytesIn: bytesIn, BytesOut: int64(len(body))},
	}, over)
	if err != nil {
		f.t.Fatalf("put output %s: %v", key, err)
	}
}

func (f *fixture) get(path string, header http.Header) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%s: decoding the answer: %v", resp.Request.URL.Path, err)
	}
	return v
}

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.Set(0, 0, color.White)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestUploads(t *testing.T) {
	f := start(t)
	tests := []struct {
		body       string
		wantStatus int
		wantText   string // in the key or the error
	}{
		{`{"name": "photo.jpg"}`, http.StatusOK, "uploads/photo.jpg"},
		{`{"name": "ünïcödé 写真 (1).PNG"}`, http.StatusOK, "uploads/ünïcödé 写真 (1).PNG"},
		{`{"name": "notes.txt"}`, http.StatusUnprocessableEntity, "no notification rule matches"},
		{`{"name": "photo.Jpg"}`, http.StatusUnprocessableEntity, "suffixes: .jpg .JPG"},
		{`{"name": "dir/photo.jpg"}`, http.StatusBadRequest, "not a file name"},
		{`{"name": ""}`, http.StatusBadRequest, "not a file name"},
		{`photo.jpg`, http.StatusBadRequest, "must be JSON"},
	}
	for _, tt := range tests {
		resp, err := http.Post(f.url+"/api/uploads", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		answer := decode[map[string]string](t, resp)
		_ = resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || !strings.Contains(answer["key"]+answer["error"], tt.wantText) {
			t.Errorf("POST /api/uploads %s: %d %v, want %d with %q", tt.body, resp.StatusCode, answer, tt.wantStatus, tt.wantText)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			continue
		}
		// The URL is a presigned PUT of exactly that key in the source bucket.
		body := testPNG(t, 4, 4)
		req, _ := http.NewRequest(http.MethodPut, answer["url"], bytes.NewReader(body))
		put, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = put.Body.Close()
		if put.StatusCode != http.StatusOK {
			t.Errorf("PUT to the presigned URL of %s: %s", answer["key"], put.Status)
		}
		if !bytes.Equal(f.s3.Get(t, sourceBucket, answer["key"]), body) {
			t.Errorf("s3://%s/%s does not hold the uploaded bytes", sourceBucket, answer["key"])
		}
		if !strings.Contains(answer["url"], "X-Amz-Signature=") || !strings.Contains(answer["url"], "X-Amz-Expires=900") {
			t.Errorf("upload URL %s: want a SigV4 presigned URL valid 15 minutes", answer["url"])
		}
	}
}

// event is one server-sent event.
type event struct{ id, name, data string }

// stream reads /api/events from lastID on; it is closed when the test ends.
func (f *fixture) stream(lastID string) <-chan event {
	f.t.Helper()
	header := http.Header{}
	if lastID != "" {
		header.Set("Last-Event-ID", lastID)
	}
	resp := f.get("/api/events", header)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		f.t.Fatalf("/api/events: Content-Type %q, want text/event-stream", ct)
	}
	events := make(chan event, 16)
	go func() {
		defer close(events)
		var e event
		lines := bufio.NewScanner(resp.Body)
		lines.Buffer(nil, 1<<20)
		for lines.Scan() {
			field, value, _ := strings.Cut(lines.Text(), ": ")
			switch field {
			case "id":
				e.id = value
			case "event":
				e.name = value
			case "data":
				e.data = value
			case "":
				if e.name != "" {
					events <- e
				}
				e = event{}
			}
		}
	}()
	return events
}

func next(t *testing.T, events <-chan event) (event, viewer.Record) {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the event stream ended")
		}
		var r viewer.Record
		if err := json.Unmarshal([]byte(e.data), &r); err != nil || e.name != "record" {
			t.Fatalf("event %q %q: want a record (%v)", e.name, e.data, err)
		}
		return e, r
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	panic("unreachable")
}

func TestLiveRecords(t *testing.T) {
	f := start(t)
	turned := testJPEG(t, 64, 32, binary.BigEndian, 6)
	f.s3.Put(t, sourceBucket, "uploads/turned.jpg", turned, nil)
	output := testPNG(t, 32, 64)
	f.putOutput("uploads/turned.png", "uploads/turned.jpg", outcome.Compressed, output, int64(len(turned)))
	events := f.stream("")

	f.feed.Publish(outcome.Record{Bucket: sourceBucket, Key: "uploads/turned.jpg", Decision: outcome.Compressed,
		Outputs: []outcome.Output{{Key: "uploads/turned.png", Format: outcome.PNG, Decision: outcome.Compressed, Bytes: int64(len(output))}},
		BytesIn: int64(len(turned)), BytesOut: int64(len(output)), Millis: 12})
	f.feed.Publish(outcome.Record{Bucket: sourceBucket, Key: "uploads/gone.jpg", Decision: outcome.Rejected, Reason: "not an image"})

	first, r := next(t, events)
	want := viewer.Record{Key: "uploads/turned.jpg", Decision: outcome.Compressed, BytesIn: int64(len(turned)),
		BytesOut: int64(len(output)), Millis: 12, Time: r.Time,
		Source: &viewer.Object{Key: "uploads/turned.jpg", Bytes: int64(len(turned)), Format: outcome.JPEG, Width: 64, Height: 32, Orientation: 6},
		Outputs: []viewer.Output{{Object: viewer.Object{Key: "uploads/turned.png", Bytes: int64(len(output)), ContentType: "image/png",
			Format: outcome.PNG, Width: 32, Height: 64}, Decision: outcome.Compressed, SourceKey: "uploads/turned.jpg"}},
	}
	want.Source.ContentType = r.Source.ContentType // whatever the fake S3 stored for an upload without one
	if got, _ := json.Marshal(r); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("record:\n got %s\nwant %s", got, must(json.Marshal(want)))
	}
	if time.Since(r.Time) > time.Minute {
		t.Errorf("record time %s, want about now", r.Time)
	}
	_, rejected := next(t, events)
	if rejected.Key != "uploads/gone.jpg" || rejected.Reason != "not an image" || len(rejected.Outputs) != 0 ||
		rejected.Source != nil || rejected.Problem != "" {
		t.Errorf("rejected record of a missing source: %+v, want its reason, no outputs, no source, no problem", rejected)
	}

	// A page that reconnects gets what it missed; one that remembers an id
	// of an earlier process gets everything.
	if _, r := next(t, f.stream(first.id)); r.Key != "uploads/gone.jpg" {
		t.Errorf("after Last-Event-ID %s: first record %s, want uploads/gone.jpg", first.id, r.Key)
	}
	if _, r := next(t, f.stream("earlier-1")); r.Key != "uploads/turned.jpg" {
		t.Errorf("after another epoch's id: first record %s, want uploads/turned.jpg", r.Key)
	}
}

func TestHistory(t *testing.T) {
	f := start(t)
	img := testPNG(t, 6, 4)
	const sources = 24
	for i := range sources {
		src := fmt.Sprintf("uploads/%02d.png", i)
		if i != 3 { // the source of 03 was deleted since
			f.s3.Put(t, sourceBucket, src, img, nil)
		}
		f.putOutput(src, src, outcome.KeptOriginal, img, int64(len(img)))
	}
	// A second rendition of 10 and an object the compressor did not write.
	f.putOutput("uploads/10.webp", "uploads/10.png", outcome.Compressed, img, int64(len(img)))
	f.s3.Put(t, destBucket, "uploads/stray.png", img, nil)

	records := map[string]viewer.Record{}
	var skipped []string
	pages := 0
	for token := ""; ; {
		pages++
		page := decode[viewer.HistoryPage](t, f.get("/api/history?next="+url.QueryEscape(token), nil))
		for _, r := range page.Records {
			if known, ok := records[r.Key]; ok { // as the page merges
				r.Outputs = append(known.Outputs, r.Outputs...)
			}
			records[r.Key] = r
		}
		skipped = append(skipped, page.Skipped...)
		if token = page.Next; token == "" {
			break
		}
		if pages > 10 {
			t.Fatal("the history does not end")
		}
	}
	if pages != 2 {
		t.Errorf("%d objects came in %d pages, want 2 pages of up to 20", sources+2, pages)
	}
	if len(records) != sources {
		t.Errorf("%d records, want %d (one per source)", len(records), sources)
	}
	if len(skipped) != 1 || skipped[0] != "uploads/stray.png" {
		t.Errorf("skipped %v, want [uploads/stray.png]", skipped)
	}
	if outs := records["uploads/10.png"].Outputs; len(outs) != 2 {
		t.Errorf("uploads/10.png has %d outputs, want its two renditions: %+v", len(outs), outs)
	}
	if r := records["uploads/03.png"]; r.Source != nil || r.Problem != "" || len(r.Outputs) != 1 {
		t.Errorf("output of a deleted source: %+v, want no source, no problem, its output", r)
	}
	r := records["uploads/05.png"]
	if r.Decision != outcome.KeptOriginal || r.BytesIn != int64(len(img)) || r.Source == nil || r.Source.Width != 6 ||
		r.Outputs[0].Height != 4 || r.Outputs[0].SourceKey != "uploads/05.png" || r.Time.IsZero() {
		t.Errorf("history record %+v: want decision, bytes, source and output dimensions from S3", r)
	}
}

func TestObjects(t *testing.T) {
	f := start(t)
	img := testPNG(t, 5, 5)
	f.s3.Put(t, sourceBucket, "uploads/a b+c.png", img, nil)
	f.s3.Put(t, sourceBucket, "private/secret.png", img, nil)
	f.putOutput("uploads/a b+c.png", "uploads/a b+c.png", outcome.KeptOriginal, img, 1)

	resp := f.get("/object/destination?key=uploads%2Fa+b%2Bc.png", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(body, img) {
		t.Fatalf("GET the output: %s %q, %d bytes; want 200 image/png with the object", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}
	etag := resp.Header.Get("ETag")
	tests := []struct {
		path   string
		header http.Header
		want   int
	}{
		{"/object/source?key=uploads%2Fa+b%2Bc.png", nil, http.StatusOK},
		{"/object/destination?key=uploads%2Fa+b%2Bc.png", http.Header{"If-None-Match": {etag}}, http.StatusNotModified},
		{"/object/source?key=private%2Fsecret.png", nil, http.StatusNotFound}, // outside the source prefix
		{"/object/source?key=uploads%2Fmissing.png", nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		if got := f.get(tt.path, tt.header).StatusCode; got != tt.want {
			t.Errorf("GET %s %v: %d, want %d", tt.path, tt.header, got, tt.want)
		}
	}
}

// The page works offline: every asset is embedded, none refers to another host.
func TestPageIsSelfContained(t *testing.T) {
	f := start(t)
	page := f.get("/", nil)
	html, _ := io.ReadAll(page.Body)
	if page.StatusCode != http.StatusOK || !strings.Contains(string(html), `<script type="module" src="app.js">`) {
		t.Fatalf("GET /: %s, want the page with its script", page.Status)
	}
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(\s*['"]?(https?:|//)`)
	for _, asset := range []string{"/", "/app.js", "/style.css"} {
		resp := f.get(asset, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", asset, resp.Status)
		}
		if m := external.Find(body); m != nil {
			t.Errorf("%s refers to %q: the page must work offline", asset, m)
		}
	}
}

// Requests addressed to another name (DNS rebinding) are refused.
func TestOnlyItsOwnHost(t *testing.T) {
	f := start(t)
	_, port, _ := net.SplitHostPort(f.host)
	for host, want := range map[string]int{
		f.host:                     http.StatusOK,
		"localhost:" + port:        http.StatusOK,
		"attacker.example:" + port: http.StatusMisdirectedRequest,
	} {
		req, _ := http.NewRequest(http.MethodGet, f.url+"/api/config", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %s, want %d", host, resp.Status, want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Images a browser cannot show are rendered as PNG by the real ImageMagick.
func TestPreviews(t *testing.T) {
	root, err := local.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := local.EnsureMagick(t.Context(), root, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	magick := filepath.Join(prefix, "bin", "magick")
	f := start(t, func(o *viewer.Options) { o.Magick = magick })
	img := image.NewNRGBA(image.Rect(0, 0, 30, 20))
	var tif bytes.Buffer
	if err := tiff.Encode(&tif, img, nil); err != nil {
		t.Fatal(err)
	}
	f.s3.Put(t, sourceBucket, "uploads/scan.tiff", tif.Bytes(), nil)
	f.s3.Put(t, sourceBucket, "uploads/fake.tiff", []byte("not a TIFF"), nil)

	resp := f.get("/object/source?key=uploads%2Fscan.tiff&as=png", nil)
	body, _ := io.ReadAll(resp.Body)
	cfg, err := png.DecodeConfig(bytes.NewReader(body))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || err != nil || cfg.Width != 30 || cfg.Height != 20 {
		t.Errorf("preview of a 30×20 TIFF: %s %q, %v %+v; want a 30×20 PNG", resp.Status, resp.Header.Get("Content-Type"), err, cfg)
	}
	bad := f.get("/object/source?key=uploads%2Ffake.tiff&as=png", nil)
	if answer := decode[map[string]string](t, bad); bad.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(answer["error"], "ImageMagick could not render it") {
		t.Errorf("preview of a fake TIFF: %s %v, want 422 with ImageMagick's error", bad.Status, answer)
	}
	without := start(t)
	without.s3.Put(t, sourceBucket, "uploads/scan.tiff", tif.Bytes(), nil)
	if got := without.get("/object/source?key=uploads%2Fscan.tiff&as=png", nil).StatusCode; got != http.StatusNotFound {
		t.Errorf("preview without ImageMagick: %d, want 404", got)
	}
}

// testLog sends ImageMagick's build progress (first run only) to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
