// Package storage is the function's only door to S3. A Source can only read
// (its client interface has no call that writes), so the compressor cannot
// modify or delete an upload however the handler is wired; a Destination
// reads provenance, and writes and deletes outputs, each only if the object
// is still the one it read.
package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// SourceAPI is the part of *s3.Client a Source calls.
type SourceAPI interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// DestinationAPI is the part of *s3.Client a Destination calls.
type DestinationAPI interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var (
	_ SourceAPI      = (*s3.Client)(nil)
	_ DestinationAPI = (*s3.Client)(nil)
)

// Errors that retrying cannot fix. Every other error from this package is
// transient: throttling, 5xx, timeouts and network failures may succeed later.
var (
	ErrNotFound  = errors.New("object not found")
	ErrChanged   = errors.New("object changed since the event (ETag no longer matches)")
	ErrTooLarge  = errors.New("object larger than the input limit")
	ErrForbidden = errors.New("access denied")
)

// ErrConflict is a destination write or delete refused because the object
// is no longer the one read before (S3's conditional requests): someone
// else wrote it meanwhile. The caller reads it again and decides anew; it is
// not permanent.
var ErrConflict = errors.New("destination object changed since it was read")

// Permanent reports whether err is one of the errors retrying cannot fix.
func Permanent(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrChanged) ||
		errors.Is(err, ErrTooLarge) || errors.Is(err, ErrForbidden)
}

// classify maps S3's answers to this package's permanent errors and leaves
// everything else (SlowDown, 5xx, timeouts, cancelled contexts, network
// errors, and 4xx such as 400 RequestTimeout) as the transient error it is.
func classify(err error, what string) error {
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%s: %w (%w)", what, ErrNotFound, err)
		case "PreconditionFailed":
			return fmt.Errorf("%s: %w (%w)", what, ErrChanged, err)
		}
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		switch status.HTTPStatusCode() {
		case 403:
			return fmt.Errorf("%s: %w (%w)", what, ErrForbidden, err)
		case 412:
			return fmt.Errorf("%s: %w (%w)", what, ErrChanged, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Object describes a source object.
type Object struct {
	Key  string
	ETag string // without quotes, as S3 events carry it
	Size int64
	// Output is true when the object carries the compressor's output marker:
	// processing it again would compress a compressed image.
	Output bool
}

// Source reads the uploads of one bucket.
type Source struct {
	api    SourceAPI
	bucket string
}

// NewSource reads from bucket through api.
func NewSource(api SourceAPI, bucket string) *Source {
	return &Source{api: api, bucket: bucket}
}

// Bucket is the bucket the source reads.
func (s *Source) Bucket() string { return s.bucket }

// Head describes the current version of key.
func (s *Source) Head(ctx context.Context, key string) (Object, error) {
	out, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return Object{}, classify(err, where("head", s.bucket, key))
	}
	return Object{
		Key:    key,
		ETag:   unquote(aws.ToString(out.ETag)),
		Size:   aws.ToInt64(out.ContentLength),
		Output: isOutput(out.Metadata),
	}, nil
}

// Get reads the version of key whose ETag is etag, or ErrChanged when the
// object has been overwritten since. It reads at most maxBytes and answers
// ErrTooLarge beyond, checking the declared length before reading a byte.
func (s *Source) Get(ctx context.Context, key, etag string, maxBytes int64) (Object, []byte, error) {
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if etag != "" {
		in.IfMatch = aws.String(quote(etag))
	}
	out, err := s.api.GetObject(ctx, in)
	if err != nil {
		return Object{}, nil, classify(err, where("get", s.bucket, key))
	}
	defer func() { _ = out.Body.Close() }() // a read body's Close has nothing to lose

	obj := Object{
		Key:    key,
		ETag:   unquote(aws.ToString(out.ETag)),
		Size:   aws.ToInt64(out.ContentLength),
		Output: isOutput(out.Metadata),
	}
	// Some S3-compatible servers ignore If-Match; the answer's ETag says the truth.
	if etag != "" && obj.ETag != "" && obj.ETag != unquote(etag) {
		return obj, nil, fmt.Errorf("%s: %w: event says %s, object is %s", where("get", s.bucket, key), ErrChanged, unquote(etag), obj.ETag)
	}
	if obj.Size > maxBytes {
		return obj, nil, fmt.Errorf("%s: %w: %d bytes, limit %d", where("get", s.bucket, key), ErrTooLarge, obj.Size, maxBytes)
	}
	var buf bytes.Buffer
	buf.Grow(int(obj.Size)) // one allocation of the right size: the body can be tens of MB in 256 MB
	n, err := buf.ReadFrom(io.LimitReader(out.Body, maxBytes+1))
	if err != nil {
		return obj, nil, classify(err, where("read", s.bucket, key))
	}
	if n > maxBytes {
		return obj, nil, fmt.Errorf("%s: %w: more than %d bytes", where("read", s.bucket, key), ErrTooLarge, maxBytes)
	}
	return obj, buf.Bytes(), nil
}

func where(op, bucket, key string) string { return fmt.Sprintf("%s s3://%s/%s", op, bucket, key) }

// S3 quotes ETags in HTTP headers; events and our metadata carry them bare.
func unquote(etag string) string { return strings.Trim(etag, `"`) }
func quote(etag string) string   { return `"` + unquote(etag) + `"` }
