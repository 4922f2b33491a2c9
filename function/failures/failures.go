// Package failures records the uploads the compressor gave up on for good
// (not an image, corrupt, too large, access denied), so someone can look at
// them: in an SQS queue in AWS, in a JSON-lines file locally.
package failures

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Failure is one message: which object, which version, and why.
type Failure struct {
	Bucket   string           `json:"bucket"`
	Key      string           `json:"key"`
	ETag     string           `json:"etag"`
	Reason   string           `json:"reason"`
	Decision outcome.Decision `json:"decision"` // Rejected or Failed
	Time     time.Time        `json:"time"`
}

// Reporter records a failure. An error means the failure was not recorded; the
// caller must then treat the record as not done, so that it is retried.
type Reporter interface {
	Report(ctx context.Context, f Failure) error
}

// Open chooses the reporter for a FAILURE_QUEUE_URL: an https:// SQS queue URL
// (sent through api), or file:///absolute/path.jsonl. An empty URL gives a nil
// Reporter: failures are then only logged and counted.
func Open(rawURL string, api SQSAPI) (Reporter, error) {
	if rawURL == "" {
		return nil, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("failure queue URL %q: %w", rawURL, err)
	}
	switch {
	case u.Scheme == "https" && u.Host != "":
		return NewQueue(api, rawURL), nil
	case u.Scheme == "file" && (u.Host == "" || u.Host == "localhost") && u.Path != "" && u.Path[0] == '/':
		return NewFile(u.Path), nil
	}
	return nil, fmt.Errorf("failure queue URL %q: want https://sqs.<region>.amazonaws.com/<account>/<queue> or file:///absolute/path.jsonl", rawURL)
}

// SQSAPI is the part of *sqs.Client a Queue calls.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ SQSAPI = (*sqs.Client)(nil)

// Queue sends each failure as one JSON message to an SQS queue.
type Queue struct {
	api SQSAPI
	url string
}

var _ Reporter = (*Queue)(nil)

// NewQueue sends to the queue at url.
func NewQueue(api SQSAPI, url string) *Queue { return &Queue{api: api, url: url} }

// Report implements Reporter.
func (q *Queue) Report(ctx context.Context, f Failure) error {
	body, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode failure of %s/%s: %w", f.Bucket, f.Key, err)
	}
	msg := string(body)
	if _, err := q.api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: &msg}); err != nil {
		return fmt.Errorf("send failure of %s/%s to %s: %w", f.Bucket, f.Key, q.url, err)
	}
	return nil
}

// File appends each failure as one JSON line to a file.
type File struct {
	mu   sync.Mutex
	path string
}

var _ Reporter = (*File)(nil)

// NewFile appends to path, creating it when needed.
func NewFile(path string) *File { return &File{path: path} }

// Report implements Reporter. The file is opened for each failure, in append
// mode, and the line written in one call, so several processes (a restarted
// emulator, a test reading along) never see half a line.
func (fr *File) Report(_ context.Context, f Failure) (err error) {
	line, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode failure of %s/%s: %w", f.Bucket, f.Key, err)
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	file, err := os.OpenFile(fr.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("record failure of %s/%s: %w", f.Bucket, f.Key, err)
	}
	defer func() { err = errors.Join(err, file.Close()) }()
	if _, err := file.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("record failure of %s/%s in %s: %w", f.Bucket, f.Key, fr.path, err)
	}
	return nil
}
