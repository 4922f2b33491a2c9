package failures_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/s3-image-compressor/s3-image-compressor/function/failures"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

const queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/compressor-failures"

var sample = failures.Failure{
	Bucket: "uploads", Key: "uploads/ünï (1)+.jpg", ETag: "d41d8cd98f00b204e9800998ecf8427e",
	Reason: "not an image: no known magic bytes", Decision: outcome.Rejected,
	Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
}

// sqsEndpoint answers SendMessage in the SQS JSON protocol the SDK speaks,
// keeping the message bodies, or fails every request with status when it is set.
type sqsEndpoint struct {
	mu     sync.Mutex
	bodies []string
	status int
}

func (e *sqsEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.status != 0 {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(e.status)
		_, _ = fmt.Fprint(w, `{"__type":"com.amazonaws.sqs#InternalError","message":"injected"}`)
		return
	}
	var in struct{ QueueUrl, MessageBody string }
	if target := r.Header.Get("X-Amz-Target"); target != "AmazonSQS.SendMessage" {
		http.Error(w, "unexpected target "+target, http.StatusBadRequest)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.QueueUrl != queueURL {
		http.Error(w, fmt.Sprintf("bad request %+v: %v", in, err), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	e.bodies = append(e.bodies, in.MessageBody)
	e.mu.Unlock()
	sum := md5.Sum([]byte(in.MessageBody))
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(map[string]string{"MD5OfMessageBody": hex.EncodeToString(sum[:]), "MessageId": "m-1"})
}

func newSQS(t *testing.T, e *sqsEndpoint) *sqs.Client {
	t.Helper()
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ts.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = time.Millisecond }),
	})
}

func TestQueue(t *testing.T) {
	e := &sqsEndpoint{}
	r, err := failures.Open(queueURL, newSQS(t, e))
	if err != nil {
		t.Fatalf("Open(%q): %v", queueURL, err)
	}
	if err := r.Report(context.Background(), sample); err != nil {
		t.Fatalf("Report: %v", err)
	}
	if len(e.bodies) != 1 {
		t.Fatalf("queue received %d messages, want 1", len(e.bodies))
	}
	var got failures.Failure
	if err := json.Unmarshal([]byte(e.bodies[0]), &got); err != nil || got != sample {
		t.Errorf("message body %s decodes to %+v (%v), want %+v", e.bodies[0], got, err, sample)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(e.bodies[0]), &fields); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"bucket", "key", "etag", "reason", "decision", "time"} {
		if _, ok := fields[field]; !ok {
			t.Errorf("message body %s has no %q field", e.bodies[0], field)
		}
	}
}

func TestQueueDownIsAnError(t *testing.T) {
	q := failures.NewQueue(newSQS(t, &sqsEndpoint{status: 500}), queueURL)
	if err := q.Report(context.Background(), sample); err == nil {
		t.Error("Report to a queue answering 500: no error, want one (the record must be retried)")
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "failures.jsonl")
	r, err := failures.Open("file://"+path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			f := sample
			f.Key = fmt.Sprintf("uploads/%d.jpg", i)
			if err := r.Report(context.Background(), f); err != nil {
				t.Errorf("Report: %v", err)
			}
		})
	}
	wg.Wait()
	// A second reporter on the same file appends rather than truncates.
	if err := failures.NewFile(path).Report(context.Background(), sample); err != nil {
		t.Fatalf("Report: %v", err)
	}

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for sc := bufio.NewScanner(bytes.NewReader(b)); sc.Scan(); {
		var f failures.Failure
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("line %q is not a Failure: %v", sc.Text(), err)
		}
		keys[f.Key] = true
	}
	if len(keys) != 21 {
		t.Errorf("file holds %d distinct failures, want 21", len(keys))
	}
}

func TestFileUnwritableIsAnError(t *testing.T) {
	r := failures.NewFile(filepath.Join(t.TempDir(), "missing-dir", "f.jsonl"))
	if err := r.Report(context.Background(), sample); err == nil {
		t.Error("Report into a missing directory: no error, want one")
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		url     string
		want    string // type of the reporter, "" for none
		wantErr bool
	}{
		{"", "", false},
		{queueURL, "*failures.Queue", false},
		{"file:///tmp/failures.jsonl", "*failures.File", false},
		{"file://localhost/tmp/failures.jsonl", "*failures.File", false},
		{"file://relative/failures.jsonl", "", true},
		{"file:failures.jsonl", "", true},
		{"http://sqs.local/queue", "", true},
		{"sqs://queue", "", true},
		{"https:///no-host", "", true},
	}
	for _, tt := range tests {
		r, err := failures.Open(tt.url, nil)
		got := ""
		if r != nil {
			got = fmt.Sprintf("%T", r)
		}
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("Open(%q) = %s, error %v; want %q, error %v", tt.url, got, err, tt.want, tt.wantErr)
		}
	}
}
