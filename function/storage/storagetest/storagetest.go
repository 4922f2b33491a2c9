// Package storagetest serves a real S3 API in-process (gofakes3) for tests,
// and injects the failures real S3 produces (throttling, 5xx) into a client's
// transport.
package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is an S3 endpoint living as long as the test.
type Server struct {
	URL    string
	Client *s3.Client // for the test's own setup and inspection
}

// Start serves an empty S3 until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	ts := httptest.NewServer(faker.Server())
	t.Cleanup(ts.Close)
	s := &Server{URL: ts.URL}
	s.Client = s.NewClient(nil)
	return s
}

// NewClient returns a client of the server whose requests go through
// transport (nil: the default transport), configured like the function's
// client against an S3-compatible endpoint: path style.
func (s *Server) NewClient(transport http.RoundTripper, optFns ...func(*s3.Options)) *s3.Client {
	if transport == nil {
		transport = http.DefaultTransport
	}
	opts := s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:   &http.Client{Transport: transport},
		// gofakes3 does not verify streamed trailing checksums.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	}
	return s3.New(opts, optFns...)
}

// CreateBucket creates a bucket or fails the test.
func (s *Server) CreateBucket(t testing.TB, bucket string) {
	t.Helper()
	if _, err := s.Client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
}

// Put stores an object with optional user metadata and returns its ETag
// without quotes, as an S3 event would carry it.
func (s *Server) Put(t testing.TB, bucket, key string, body []byte, meta map[string]string) string {
	t.Helper()
	out, err := s.Client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), Metadata: meta,
	})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`)
}

// Stored is an object as a listing shows it.
type Stored struct {
	ETag         string
	Size         int64
	LastModified time.Time
}

// List maps every key in bucket to its state, to compare a bucket before and after.
func (s *Server) List(t testing.TB, bucket string) map[string]Stored {
	t.Helper()
	objects := map[string]Stored{}
	pages := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: &bucket})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list s3://%s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			objects[aws.ToString(o.Key)] = Stored{
				ETag: aws.ToString(o.ETag), Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified),
			}
		}
	}
	return objects
}

// Head returns the object's metadata and state, or ok=false when it does not exist.
func (s *Server) Head(t testing.TB, bucket, key string) (out *s3.HeadObjectOutput, ok bool) {
	t.Helper()
	out, err := s.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, false
	}
	return out, true
}

// Get returns the object's bytes or fails the test.
func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	out, err := s.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	body, err := io.ReadAll(out.Body)
	_ = out.Body.Close()
	if err != nil {
		t.Fatalf("read s3://%s/%s: %v", bucket, key, err)
	}
	return body
}

// Faulty answers requests that Match with an S3 error response instead of
// passing them to the real transport, the way S3 answers when it throttles
// (503 SlowDown) or fails (500 InternalError).
type Faulty struct {
	Next   http.RoundTripper // nil: http.DefaultTransport
	Match  func(*http.Request) bool
	Status int
	Code   string
	hits   atomic.Int64
}

var _ http.RoundTripper = (*Faulty)(nil)

// RoundTrip implements http.RoundTripper.
func (f *Faulty) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.Match == nil || f.Match(r) {
		f.hits.Add(1)
		if r.Body != nil {
			_ = r.Body.Close() // an injected error never reads the request
		}
		body := fmt.Sprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>injected by storagetest.Faulty</Message><RequestId>FAULTY</RequestId></Error>", f.Code)
		return &http.Response{
			Status:        fmt.Sprintf("%d %s", f.Status, http.StatusText(f.Status)),
			StatusCode:    f.Status,
			Proto:         "HTTP/1.1",
			ProtoMajor:    1,
			ProtoMinor:    1,
			Header:        http.Header{"Content-Type": {"application/xml"}},
			Body:          io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)),
			Request:       r,
		}, nil
	}
	next := f.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// Hits is how many requests were answered with the injected error.
func (f *Faulty) Hits() int64 { return f.hits.Load() }

// Request is one request a Recorder saw, by path-style address.
type Request struct {
	Method string
	Bucket string
	Key    string
	Header http.Header
}

// Recorder passes requests to Next (nil: http.DefaultTransport) and keeps them.
type Recorder struct {
	Next     http.RoundTripper
	mu       sync.Mutex
	requests []Request
}

var _ http.RoundTripper = (*Recorder)(nil)

// RoundTrip implements http.RoundTripper.
func (rec *Recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	rec.mu.Lock()
	rec.requests = append(rec.requests, Request{Method: r.Method, Bucket: bucket, Key: key, Header: r.Header.Clone()})
	rec.mu.Unlock()
	next := rec.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// Requests returns the requests so far and forgets them.
func (rec *Recorder) Requests() []Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	r := rec.requests
	rec.requests = nil
	return r
}
