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
		Format: outcome.WebP, Width: 640, Height: 480,
	}

	none, err := d.Current(ctx, "out/a.jpg")
	if err != nil || none.Exists() || none.Ours || none.Key != "out/a.jpg" {
		t.Fatalf("Current of a missing object = %+v, %v; want no object", none, err)
	}
	err = d.Put(ctx, storage.Output{Key: "out/a.jpg", Body: []byte("jpeg"), ContentType: "image/jpeg", CacheControl: "max-age=60", Provenance: p}, none)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, err := d.Current(ctx, "out/a.jpg")
	if err != nil || !got.Ours || got.Provenance != p || !got.Provenance.Same(p) || !got.Exists() || got.Size != 4 {
		t.Errorf("Current after Put = %+v, %v; want ours with %+v", got, err, p)
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
	if c, err := d.Current(ctx, "out/foreign.jpg"); !c.Exists() || c.Ours || err != nil {
		t.Errorf("Current of an object without the output marker = %+v, %v; want a foreign object", c, err)
	}
	// Outputs of earlier versions lack format and sizes.
	s.Put(t, dst, "out/old.jpg", []byte("x"), map[string]string{storage.OutputMarker: "1", "source-key": "uploads%2Fold.jpg", "bytes-in": "9", "bytes-out": "1"})
	if c, err := d.Current(ctx, "out/old.jpg"); !c.Ours || c.Provenance.SourceKey != "uploads/old.jpg" || c.Provenance.Width != 0 || err != nil {
		t.Errorf("Current of an output without format and sizes = %+v, %v; want ours, source uploads/old.jpg", c, err)
	}
}

// TestConditionalWrites: a write or delete based on a stale read loses
// instead of replacing what another writer stored meanwhile.
func TestConditionalWrites(t *testing.T) {
	s := setup(t)
	storagetest.CheckConditionalWrites(t, storage.NewDestination(s.NewClient(nil, fastRetries), dst), "out/a.webp")
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
		status         int
		code           string
		permanent      error // nil: transient
		read, conflict error // what a source read and a conditional write answer instead, when not permanent
	}{
		{503, "SlowDown", nil, nil, nil},
		{500, "InternalError", nil, nil, nil},
		{503, "ServiceUnavailable", nil, nil, nil},
		{400, "RequestTimeout", nil, nil, nil},
		{403, "AccessDenied", storage.ErrForbidden, nil, nil},
		// A failed condition: the upload changed since the event; the output
		// since it was read, which the caller settles by reading it again.
		{412, "PreconditionFailed", nil, storage.ErrChanged, storage.ErrConflict},
		{409, "ConditionalRequestConflict", nil, nil, storage.ErrConflict},
		{404, "NoSuchKey", storage.ErrNotFound, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			s := setup(t)
			etag := s.Put(t, src, "uploads/a.jpg", []byte("abc"), nil)
			faulty := &storagetest.Faulty{Status: tt.status, Code: tt.code}
			source := storage.NewSource(s.NewClient(faulty, fastRetries), src)
			dest := storage.NewDestination(s.NewClient(faulty, fastRetries), dst)

			_, _, getErr := source.Get(context.Background(), "uploads/a.jpg", etag, 100)
			putErr := dest.Put(context.Background(), storage.Output{Key: "a.jpg", Body: []byte("x")}, storage.Current{Key: "a.jpg"})
			delErr := dest.Delete(context.Background(), storage.Current{Key: "a.jpg", ETag: "0123"})
			for _, op := range []struct {
				name    string
				err     error
				special error
			}{{"Get", getErr, tt.read}, {"Put", putErr, tt.conflict}, {"Delete", delErr, tt.conflict}} {
				want := tt.permanent
				if op.special != nil {
					want = op.special
				}
				if op.err == nil {
					t.Fatalf("%s answered %d %s: no error", op.name, tt.status, tt.code)
				}
				if want != nil && !errors.Is(op.err, want) {
					t.Errorf("%s answered %d %s: error %v, want %v", op.name, tt.status, tt.code, op.err, want)
				}
				if got := storage.Permanent(op.err); got != (tt.permanent != nil || op.special == storage.ErrChanged) {
					t.Errorf("%s answered %d %s: Permanent(%v) = %v", op.name, tt.status, tt.code, op.err, got)
				}
			}
			if tt.permanent == nil && tt.read == nil && tt.conflict == nil && faulty.Hits() < 6 {
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
