package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Metadata keys (x-amz-meta-*) of a destination object. OutputMarker is on
// every object the compressor writes; objects carrying it are never processed.
const (
	OutputMarker    = "compressor-output"
	metaBucket      = "source-bucket"
	metaKey         = "source-key"
	metaETag        = "source-etag"
	metaSettingHash = "settings-hash"
	metaBytesIn     = "bytes-in"
	metaBytesOut    = "bytes-out"
	metaDecision    = "decision"
	metaFormat      = "format"
	metaWidth       = "width"
	metaHeight      = "height"
)

// Provenance is what a destination object records about how it was made.
type Provenance struct {
	SourceBucket string
	SourceKey    string
	SourceETag   string
	SettingsHash string // config.Settings.OutputHash of the output
	Decision     outcome.Decision
	BytesIn      int64
	BytesOut     int64
	// Format, Width and Height describe the output; objects written before
	// they were recorded read as "", 0 and 0.
	Format        outcome.Format
	Width, Height int
}

// Same reports whether p and q come from the same source version through the
// same settings, i.e. whether redoing q's work would reproduce p.
func (p Provenance) Same(q Provenance) bool {
	return p.SourceBucket == q.SourceBucket && p.SourceKey == q.SourceKey &&
		unquote(p.SourceETag) == unquote(q.SourceETag) && p.SettingsHash == q.SettingsHash
}

// S3 metadata travels in HTTP headers, which only carry ASCII safely, so the
// key is stored URL-encoded the way S3 event notifications encode keys.
func (p Provenance) metadata() map[string]string {
	return map[string]string{
		OutputMarker:    "1",
		metaBucket:      p.SourceBucket,
		metaKey:         url.QueryEscape(p.SourceKey),
		metaETag:        unquote(p.SourceETag),
		metaSettingHash: p.SettingsHash,
		metaDecision:    string(p.Decision),
		metaBytesIn:     strconv.FormatInt(p.BytesIn, 10),
		metaBytesOut:    strconv.FormatInt(p.BytesOut, 10),
		metaFormat:      string(p.Format),
		metaWidth:       strconv.Itoa(p.Width),
		metaHeight:      strconv.Itoa(p.Height),
	}
}

// provenance reads what metadata wrote; ok is false for objects the compressor
// did not write.
func provenance(meta map[string]string) (p Provenance, ok bool) {
	if !isOutput(meta) {
		return Provenance{}, false
	}
	key, err := url.QueryUnescape(meta[metaKey])
	if err != nil {
		return Provenance{}, false
	}
	in, errIn := strconv.ParseInt(meta[metaBytesIn], 10, 64)
	out, errOut := strconv.ParseInt(meta[metaBytesOut], 10, 64)
	if errIn != nil || errOut != nil {
		return Provenance{}, false
	}
	w, _ := strconv.Atoi(meta[metaWidth]) // absent on older outputs: 0
	h, _ := strconv.Atoi(meta[metaHeight])
	return Provenance{
		SourceBucket: meta[metaBucket],
		SourceKey:    key,
		SourceETag:   meta[metaETag],
		SettingsHash: meta[metaSettingHash],
		Decision:     outcome.Decision(meta[metaDecision]),
		BytesIn:      in,
		BytesOut:     out,
		Format:       outcome.Format(meta[metaFormat]),
		Width:        w,
		Height:       h,
	}, true
}

func isOutput(meta map[string]string) bool { return meta[OutputMarker] == "1" }

// Destination writes outputs to one bucket.
type Destination struct {
	api    DestinationAPI
	bucket string
}

// NewDestination writes to bucket through api.
func NewDestination(api DestinationAPI, bucket string) *Destination {
	return &Destination{api: api, bucket: bucket}
}

// Current is the object at a destination key as it was read: what a write
// or a delete of that key may replace.
type Current struct {
	Key  string
	ETag string // "" when there is no object
	// Ours is true for an object the compressor wrote, whose Provenance
	// says how; false for no object or a foreign one.
	Ours       bool
	Provenance Provenance
	Size       int64
}

// Exists reports whether there was an object at the key.
func (c Current) Exists() bool { return c.ETag != "" }

// Current reads what is at key: nothing, a foreign object, or an output with
// its provenance.
func (d *Destination) Current(ctx context.Context, key string) (Current, error) {
	out, err := d.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.bucket, Key: &key})
	if err != nil {
		err = classify(err, where("head", d.bucket, key))
		if errors.Is(err, ErrNotFound) {
			return Current{Key: key}, nil
		}
		return Current{}, err
	}
	c := Current{Key: key, ETag: unquote(aws.ToString(out.ETag)), Size: aws.ToInt64(out.ContentLength)}
	c.Provenance, c.Ours = provenance(out.Metadata)
	return c, nil
}

// Output is one object to write.
type Output struct {
	Key          string
	Body         []byte
	ContentType  string
	CacheControl string
	Provenance   Provenance
}

// Put writes o only if its key still holds what over read there (nothing, or
// the object with over's ETag): a writer that read an older state loses with
// ErrConflict instead of overwriting what another writer stored meanwhile.
func (d *Destination) Put(ctx context.Context, o Output, over Current) error {
	in := &s3.PutObjectInput{
		Bucket:        &d.bucket,
		Key:           &o.Key,
		Body:          bytes.NewReader(o.Body),
		ContentLength: aws.Int64(int64(len(o.Body))),
		ContentType:   nonEmpty(o.ContentType),
		CacheControl:  nonEmpty(o.CacheControl),
		Metadata:      o.Provenance.metadata(),
	}
	if over.Exists() {
		in.IfMatch = aws.String(quote(over.ETag))
	} else {
		in.IfNoneMatch = aws.String("*")
	}
	_, err := d.api.PutObject(ctx, in)
	return classifyConditional(err, where("put", d.bucket, o.Key))
}

// Delete deletes the object over read, only if it is still that object
// (S3 honours If-Match on DELETE in general purpose buckets since September
// 2025, with the s3:GetObject permission besides s3:DeleteObject; it answers
// 404, ErrNotFound, when the object is gone already).
func (d *Destination) Delete(ctx context.Context, over Current) error {
	_, err := d.api.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket:  &d.bucket,
		Key:     aws.String(over.Key),
		IfMatch: aws.String(quote(over.ETag)),
	})
	return classifyConditional(err, where("delete", d.bucket, over.Key))
}

// classifyConditional is classify for writes and deletes that carry a
// condition: S3 answers 412 when it does not hold and 409 when a concurrent
// conditional request won.
func classifyConditional(err error, what string) error {
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "PreconditionFailed" || api.ErrorCode() == "ConditionalRequestConflict") {
		return fmt.Errorf("%s: %w (%w)", what, ErrConflict, err)
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && (status.HTTPStatusCode() == 412 || status.HTTPStatusCode() == 409) {
		return fmt.Errorf("%s: %w (%w)", what, ErrConflict, err)
	}
	return classify(err, what)
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
