package storage_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage/storagetest"
)

const (
	src = "uploads-bucket"
	dst = "outputs-bucket"
)

func fastRetries(o *s3.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxBackoff = 5 * time.Millisecond })
}

func setup(t *testing.T) *storagetest.Server {
	t.Helper()
	s := storagetest.Start(t)
	s.CreateBucket(t, src)
	s.CreateBucket(t, dst)
	return s
}

func TestSourceGet(t *testing.T) {
	s := setup(t)
	body := bytes.Repeat([]byte("0123456789"), 100)
	etag := s.Put(t, src, "uploads/a b+(1)é.jpg", body, nil)
	stale := s.Put(t, src, "uploads/overwritten.jpg", []byte("first"), nil)
	s.Put(t, src, "uploads/overwritten.jpg", []byte("second"), nil)
	marked := s.Put(t, src, "uploads/marked.jpg", body, map[string]string{storage.OutputMarker: "1"})
	source := storage.NewSource(s.NewClient(nil, fastRetries), src)

	tests := []struct {
		name     string
		key      string
		etag     string
		maxBytes int64
		wantErr  error
		wantOut  bool
	}{
		{"current etag", "uploads/a b+(1)é.jpg", etag, 1000, nil, false},
		{"quoted etag", "uploads/a b+(1)é.jpg", `"` + etag + `"`, 1000, nil, false},
		{"no etag reads the current version", "uploads/a b+(1)é.jpg", "", 1000, nil, false},
		{"output marker", "uploads/marked.jpg", marked, 1000, nil, true},
		{"overwritten since the event", "uploads/overwritten.jpg", stale, 1000, storage.ErrChanged, false},
		{"missing", "uploads/missing.jpg", "", 1000, storage.ErrNotFound, false},
		{"one byte over the limit", "uploads/a b+(1)é.jpg", etag, 999, storage.ErrTooLarge, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, got, err := source.Get(context.Background(), tt.key, tt.etag, tt.maxBytes)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get(%q, %q, %d) error = %v, want %v", tt.key, tt.etag, tt.maxBytes, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if !storage.Permanent(err) {
					t.Errorf("Permanent(%v) = false, want true", err)
				}
				return
			}
			if !bytes.Equal(got, body) {
				t.Errorf("Get(%q) returned %d bytes, want the %d stored", tt.key, len(got), len(body))
			}
			if obj.Output != tt.wantOut || obj.Size != int64(len(body)) || obj.ETag == "" || strings.Contains(obj.ETag, `"`) {
				t.Errorf("Get(%q) object = %+v, want output=%v, size %d and an unquoted ETag", tt.key, obj, tt.wantOut, len(body))
			}
		})
	}
}

// chunked hides the Content-Length of every response, as a server streaming
// a body may, so only the limited reader stands between S3 and memory.
type chunked struct{}

func (chunked) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
	}
	return resp, err
}

func TestSourceGetLimitsUndeclaredLength(t *testing.T) {
	s := setup(t)
	etag := s.Put(t, src, "uploads/big.png", make([]byte, 5000), nil)
	source := storage.NewSource(s.NewClient(chunked{}), src)

	if _, _, err := source.Get(context.Background(), "uploads/big.png", etag, 4999); !errors.Is(err, storage.ErrTooLarge) {
		t.Errorf("Get of 5000 bytes without Content-Length, limit 4999: error = %v, want ErrTooLarge", err)
	}
	if _, got, err := source.Get(context.Background(), "uploads/big.png", etag, 5000); err != nil || len(got) != 5000 {
		t.Errorf("Get of 5000 bytes without Content-Length, limit 5000: %d bytes, error %v; want 5000 bytes", len(got), err)
	}
}

func TestSourceHead(t *testing.T) {
	s := setup(t)
	etag := s.Put(t, src, "uploads/x.png", []byte("abc"), nil)
	source := storage.NewSource(s.NewClient(nil), src)

	obj, err := source.Head(context.Background(), "uploads/x.png")
	if err != nil || obj.ETag != etag || obj.Size != 3 || obj.Output {
		t.Errorf("Head = %+v, %v; want ETag %s, size 3, not an output", obj, err, etag)
	}
	if _, err := source.Head(context.Background(), "uploads/none.png"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Head of a missing key: error = %v, want ErrNotFound", err)
	}
}

func TestDestinationRoundTrip(t *testing.T) {
	s := setup(t)
	rec := &storagetest.Recorder{}
	d := storage.NewDestination(s.NewClient(rec), dst)
	ctx := context.Background()
	p := storage.Provenance{
		SourceBucket: src, SourceKey: "uploads/ünï cödé+plus (1).jpg", SourceETag: "abc123",
		SettingsHash: "0011223344556677", Decision: outcome.Compressed, BytesIn: 1000, BytesOut: 600,
	}

	if _, ok, err := d.Provenance(ctx, "out/a.jpg"); ok || err != nil {
		t.Fatalf("Provenance of a missing object = ok %v, error %v; want false, nil", ok, err)
	}
	err := d.Put(ctx, storage.Output{Key: "out/a.jpg", Body: []byte("jpeg"), ContentType: "image/jpeg", CacheControl: "max-age=60", Provenance: p})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, ok, err := d.Provenance(ctx, "out/a.jpg")
	if err != nil || !ok || got != p || !got.Same(p) {
		t.Errorf("Provenance after Put = %+v, ok %v, error %v; want %+v", got, ok, err, p)
	}
	// gofakes3 drops Cache-Control, so check what the SDK sent.
	var put http.Header
	for _, r := range rec.Requests() {
		if r.Method == http.MethodPut && r.Bucket == dst && r.Key == "out/a.jpg" {
			put = r.Header
		}
	}
	if ct, cc := put.Get("Content-Type"), put.Get("Cache-Control"); ct != "image/jpeg" || cc != "max-age=60" {
		t.Errorf("PUT sent Content-Type %q, Cache-Control %q; want image/jpeg, max-age=60", ct, cc)
	}
	if head, _ := s.Head(t, dst, "out/a.jpg"); *head.ContentType != "image/jpeg" {
		t.Errorf("stored Content-Type %q, want image/jpeg", *head.ContentType)
	}

	s.Put(t, dst, "out/foreign.jpg", []byte("x"), map[string]string{"source-etag": "abc123"})
	if _, ok, err := d.Provenance(ctx, "out/foreign.jpg"); ok || err != nil {
		t.Errorf("Provenance of an object without the output marker = ok %v, error %v; want false, nil", ok, err)
	}
}

func TestProvenanceSame(t *testing.T) {
	base := storage.Provenance{SourceBucket: "b", SourceKey: "k", SourceETag: "e", SettingsHash: "h", BytesIn: 1}
	tests := []struct {
		name   string
		change func(*storage.Provenance)
		want   bool
	}{
		{"identical", func(*storage.Provenance) {}, true},
		{"quoted etag", func(p *storage.Provenance) { p.SourceETag = `"e"` }, true},
		{"sizes are results, not identity", func(p *storage.Provenance) { p.BytesOut = 9 }, true},
		{"other etag", func(p *storage.Provenance) { p.SourceETag = "f" }, false},
		{"other settings", func(p *storage.Provenance) { p.SettingsHash = "g" }, false},
		{"other key", func(p *storage.Provenance) { p.SourceKey = "k2" }, false},
		{"other bucket", func(p *storage.Provenance) { p.SourceBucket = "c" }, false},
	}
	for _, tt := range tests {
		q := base
		tt.change(&q)
		if got := base.Same(q); got != tt.want {
			t.Errorf("%s: Same = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		status    int
		code      string
		permanent error // nil: transient
	}{
		{503, "SlowDown", nil},
		{500, "InternalError", nil},
		{503, "ServiceUnavailable", nil},
		{400, "RequestTimeout", nil},
		{403, "AccessDenied", storage.ErrForbidden},
		{412, "PreconditionFailed", storage.ErrChanged},
		{404, "NoSuchKey", storage.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			s := setup(t)
			etag := s.Put(t, src, "uploads/a.jpg", []byte("abc"), nil)
			faulty := &storagetest.Faulty{Status: tt.status, Code: tt.code}
			source := storage.NewSource(s.NewClient(faulty, fastRetries), src)
			dest := storage.NewDestination(s.NewClient(faulty, fastRetries), dst)

			_, _, getErr := source.Get(context.Background(), "uploads/a.jpg", etag, 100)
			putErr := dest.Put(context.Background(), storage.Output{Key: "a.jpg", Body: []byte("x")})
			for op, err := range map[string]error{"Get": getErr, "Put": putErr} {
				if err == nil {
					t.Fatalf("%s answered %d %s: no error", op, tt.status, tt.code)
				}
				if tt.permanent == nil && storage.Permanent(err) {
					t.Errorf("%s answered %d %s: Permanent(%v) = true, want transient", op, tt.status, tt.code, err)
				}
				if tt.permanent != nil && !errors.Is(err, tt.permanent) {
					t.Errorf("%s answered %d %s: error %v, want %v", op, tt.status, tt.code, err, tt.permanent)
				}
			}
			if tt.permanent == nil && faulty.Hits() < 4 {
				t.Errorf("%d %s: %d requests, want the SDK to retry each call", tt.status, tt.code, faulty.Hits())
			}
			if _, ok := s.Head(t, dst, "a.jpg"); ok {
				t.Errorf("a failed Put left an object")
			}
		})
	}
}

func TestDeadlineIsTransient(t *testing.T) {
	s := setup(t)
	etag := s.Put(t, src, "uploads/a.jpg", []byte("abc"), nil)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, _, err := storage.NewSource(s.NewClient(nil), src).Get(ctx, "uploads/a.jpg", etag, 100)
	if err == nil || storage.Permanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get after the deadline: error %v, want a transient error wrapping context.DeadlineExceeded", err)
	}
}
