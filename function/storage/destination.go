package storage

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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
)

// Provenance is what a destination object records about how it was made.
type Provenance struct {
	SourceBucket string
	SourceKey    string
	SourceETag   string
	SettingsHash string
	Decision     outcome.Decision
	BytesIn      int64
	BytesOut     int64
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
	return Provenance{
		SourceBucket: meta[metaBucket],
		SourceKey:    key,
		SourceETag:   meta[metaETag],
		SettingsHash: meta[metaSettingHash],
		Decision:     outcome.Decision(meta[metaDecision]),
		BytesIn:      in,
		BytesOut:     out,
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

// Provenance reads the provenance of the object at key; ok is false when
// there is no object or one the compressor did not write.
func (d *Destination) Provenance(ctx context.Context, key string) (p Provenance, ok bool, err error) {
	out, err := d.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &d.bucket, Key: &key})
	if err != nil {
		err = classify(err, where("head", d.bucket, key))
		if errors.Is(err, ErrNotFound) {
			return Provenance{}, false, nil
		}
		return Provenance{}, false, err
	}
	p, ok = provenance(out.Metadata)
	return p, ok, nil
}

// Output is one object to write.
type Output struct {
	Key          string
	Body         []byte
	ContentType  string
	CacheControl string
	Provenance   Provenance
}

// Put writes o, replacing any object at its key.
func (d *Destination) Put(ctx context.Context, o Output) error {
	_, err := d.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &d.bucket,
		Key:           &o.Key,
		Body:          bytes.NewReader(o.Body),
		ContentLength: aws.Int64(int64(len(o.Body))),
		ContentType:   nonEmpty(o.ContentType),
		CacheControl:  nonEmpty(o.CacheControl),
		Metadata:      o.Provenance.metadata(),
	})
	return classify(err, where("put", d.bucket, o.Key))
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
