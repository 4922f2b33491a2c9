package viewer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // registered for image.DecodeConfig: the formats the function writes
	_ "image/jpeg"
	_ "image/png"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
)

// Record is one source object and what the function made of it: a row of the
// page. Outputs is a list because one upload may get several renditions; a
// record the function wrote nothing for (rejected, skipped, failed) has none.
type Record struct {
	Key      string           `json:"key"` // the source key
	Decision outcome.Decision `json:"decision"`
	Reason   string           `json:"reason,omitempty"`
	BytesIn  int64            `json:"bytesIn"`
	BytesOut int64            `json:"bytesOut"`
	Millis   int64            `json:"ms,omitempty"` // known for live records only
	Time     time.Time        `json:"time"`
	// Source is nil when the source object is gone (deleted since).
	Source  *Object  `json:"source,omitempty"`
	Outputs []Output `json:"outputs"`
	// Problem says why a fact is missing (an S3 lookup that failed).
	Problem string `json:"problem,omitempty"`
}

// Object is what the viewer learnt about one stored image.
type Object struct {
	Key         string `json:"key"`
	Bytes       int64  `json:"bytes"`
	ContentType string `json:"contentType,omitempty"`
	// Format comes from the magic bytes, dimensions from the image header;
	// they are 0 for formats Go does not parse (HEIC, AVIF), where the page
	// reads the dimensions of the loaded image instead.
	Format outcome.Format `json:"format,omitempty"`
	Width  int            `json:"width,omitempty"`
	Height int            `json:"height,omitempty"`
	// Orientation is the EXIF orientation (1–8) of a JPEG, 0 when absent.
	// Browsers apply it, so 5–8 show Height × Width.
	Orientation int `json:"orientation,omitempty"`
}

// Output is one object the function wrote to the destination.
type Output struct {
	Object
	Decision  outcome.Decision `json:"decision,omitempty"`
	SourceKey string           `json:"sourceKey"` // from its provenance metadata
}

// headerBytes bounds the ranged read that finds an image's format and size:
// a JPEG's frame header follows its EXIF (at most 64 KiB) and ICC segments.
const headerBytes = 256 << 10

// describer looks objects up in the two buckets.
type describer struct {
	s3     *s3.Client
	source string
	// destination reads provenance with the function's own parser of it.
	destination *storage.Destination
	destBucket  string
}

// fromOutcome makes the record of what the function reported.
func (d describer) fromOutcome(ctx context.Context, o outcome.Record, at time.Time) Record {
	r := Record{Key: o.Key, Decision: o.Decision, Reason: o.Reason,
		BytesIn: o.BytesIn, BytesOut: o.BytesOut, Millis: o.Millis, Time: at, Outputs: []Output{}}
	var problems []string
	for _, key := range outputKeys(o) {
		out, _, err := d.output(ctx, key)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		r.Outputs = append(r.Outputs, out)
	}
	r.Source, problems = d.sourceObject(ctx, o.Key, problems)
	r.Problem = strings.Join(problems, "; ")
	return r
}

// outputKeys lists the destination objects a record names: the outputs it
// wrote, and those it found already written (duplicates).
func outputKeys(o outcome.Record) []string {
	var keys []string
	for _, out := range o.Outputs {
		if out.Decision.Stored() || out.Decision == outcome.Skipped && outcome.Word(out.Reason) == outcome.ReasonDuplicate {
			keys = append(keys, out.Key)
		}
	}
	return keys
}

// sourceObject describes the source object; a missing one is no problem (it
// may have been deleted since), any other failure is.
func (d describer) sourceObject(ctx context.Context, key string, problems []string) (*Object, []string) {
	obj, err := d.describe(ctx, d.source, key)
	switch {
	case err == nil:
		return &obj, problems
	case isNotFound(err):
		return nil, problems
	}
	return nil, append(problems, err.Error())
}

// output describes a destination object and reads its provenance; ok is
// false for an object the compressor did not write.
func (d describer) output(ctx context.Context, key string) (Output, storage.Provenance, error) {
	cur, err := d.destination.Current(ctx, key)
	p := cur.Provenance
	if err != nil {
		return Output{}, p, err
	}
	if !cur.Ours {
		return Output{}, p, fmt.Errorf("s3://%s/%s: %w", d.destBucket, key, errNotAnOutput)
	}
	obj, err := d.describe(ctx, d.destBucket, key)
	if err != nil {
		return Output{}, p, err
	}
	return Output{Object: obj, Decision: p.Decision, SourceKey: p.SourceKey}, p, nil
}

var errNotAnOutput = errors.New("no provenance metadata: the compressor did not write this object")

// describe reads an object's size and type and its image header, with one
// ranged GET.
func (d describer) describe(ctx context.Context, bucket, key string) (Object, error) {
	got, err := d.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key,
		Range: aws.String("bytes=0-" + strconv.Itoa(headerBytes-1))})
	if isInvalidRange(err) { // an empty object has no byte 0
		return Object{Key: key}, nil
	}
	if err != nil {
		return Object{}, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	header, err := io.ReadAll(got.Body)
	_ = got.Body.Close() // read to the end: nothing left to report
	if err != nil {
		return Object{}, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	obj := Object{Key: key, Bytes: totalSize(got), ContentType: aws.ToString(got.ContentType)}
	obj.Format, _ = outcome.Sniff(header)
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(header)); err == nil {
		obj.Width, obj.Height = cfg.Width, cfg.Height
	}
	if obj.Format == outcome.JPEG {
		obj.Orientation = jpegOrientation(header)
	}
	return obj, nil
}

// totalSize is the object's size from a ranged GET's Content-Range
// ("bytes 0-262143/1234567"), or its Content-Length when the server sent it
// all.
func totalSize(got *s3.GetObjectOutput) int64 {
	if r := aws.ToString(got.ContentRange); r != "" {
		if _, total, ok := strings.Cut(r, "/"); ok {
			if n, err := strconv.ParseInt(total, 10, 64); err == nil {
				return n
			}
		}
	}
	return aws.ToInt64(got.ContentLength)
}

func isInvalidRange(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "InvalidRange"
}

// isNotFound reports whether S3 answered that the object does not exist.
func isNotFound(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
}
