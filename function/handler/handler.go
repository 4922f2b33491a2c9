// Package handler turns S3 events into outputs in the destination bucket: it
// decides which records to skip, reads the upload, decodes it once, makes
// each configured output that is not there yet and writes it with its
// provenance, mirrors deletes when configured, and records every outcome in a
// log line and a metrics document.
package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/failures"
	"github.com/s3-image-compressor/s3-image-compressor/function/metrics"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
)

// Config wires a Handler.
type Config struct {
	Settings    config.Settings
	Source      *storage.Source
	Destination *storage.Destination
	Failures    failures.Reporter // nil: permanent failures are only logged and counted
	Metrics     *metrics.Emitter
	Log         *slog.Logger
	// Reserve is kept back from the invocation's deadline for logging and
	// returning; MinRecordTime is the least time worth starting a record in.
	// Zero means 500 ms and 2 s.
	Reserve       time.Duration
	MinRecordTime time.Duration
}

// Handler handles S3 events; its Handle method is the Lambda handler.
type Handler struct {
	Config
}

// New returns a Handler for c.
func New(c Config) *Handler {
	if c.Reserve == 0 {
		c.Reserve = 500 * time.Millisecond
	}
	if c.MinRecordTime == 0 {
		c.MinRecordTime = 2 * time.Second
	}
	return &Handler{Config: c}
}

// Handle processes every record. When any record failed in a way a retry may
// fix, it returns an error after the whole batch, so Lambda retries the event;
// outputs already written are then skipped as duplicates.
func (h *Handler) Handle(ctx context.Context, event events.S3Event) (outcome.Response, error) {
	resp := outcome.Response{Records: make([]outcome.Record, 0, len(event.Records))}
	var retry []string
	for _, rec := range event.Records {
		start := time.Now()
		var o outcome.Record
		if left, ok := h.timeLeft(ctx); ok && left < h.MinRecordTime {
			o = newRecord(rec)
			o.Decision, o.Retry = outcome.Failed, true
			o.Reason = outcome.Because(outcome.ReasonNotStarted, fmt.Sprintf("%v of the invocation left, a record needs %v", left.Round(time.Millisecond), h.MinRecordTime))
		} else {
			o = h.record(ctx, rec)
		}
		o.Millis = time.Since(start).Milliseconds()
		h.Observe(ctx, o)
		resp.Records = append(resp.Records, o)
		if o.Retry {
			retry = append(retry, o.Key)
		}
	}
	if len(retry) > 0 {
		return resp, fmt.Errorf("%d of %d records not done, retry the event: %s", len(retry), len(event.Records), strings.Join(retry, ", "))
	}
	return resp, nil
}

func (h *Handler) timeLeft(ctx context.Context) (time.Duration, bool) {
	deadline, ok := ctx.Deadline()
	return time.Until(deadline) - h.Reserve, ok
}

// newRecord starts the outcome of rec. S3 URL-encodes keys in events like a
// query string ("a+b%2B.jpg" is "a b+.jpg"); MinIO also encodes "/" as %2F.
func newRecord(rec events.S3EventRecord) outcome.Record {
	key, err := url.QueryUnescape(rec.S3.Object.Key)
	if err != nil { // unreachable from the runtime, which refuses such events; keep the record visible
		key = rec.S3.Object.Key
	}
	return outcome.Record{Bucket: rec.S3.Bucket.Name, Key: key, ETag: strings.Trim(rec.S3.Object.ETag, `"`)}
}

// record handles one record of an event.
func (h *Handler) record(ctx context.Context, rec events.S3EventRecord) outcome.Record {
	o := newRecord(rec)
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-h.Reserve))
		defer cancel()
	}
	if reason := h.skip(rec, o.Key); reason != "" {
		return skipped(o, reason)
	}
	if isRemoval(rec.EventName) {
		return h.Removed(ctx, o.Key)
	}
	if size := rec.S3.Object.Size; size > h.Settings.Limits.MaxInputBytes {
		return h.giveUp(ctx, o, outcome.Rejected, outcome.Because(outcome.ReasonTooLarge, fmt.Sprintf("%d bytes, limit %d", size, h.Settings.Limits.MaxInputBytes)))
	}
	return h.Object(ctx, o.Key, o.ETag)
}

func isCreation(eventName string) bool {
	return strings.HasPrefix(strings.TrimPrefix(eventName, "s3:"), "ObjectCreated:")
}

// isRemoval covers deletes and delete markers (ObjectRemoved:Delete,
// ObjectRemoved:DeleteMarkerCreated).
func isRemoval(eventName string) bool {
	return strings.HasPrefix(strings.TrimPrefix(eventName, "s3:"), "ObjectRemoved:")
}

// skip says why rec is none of this function's business, or "".
func (h *Handler) skip(rec events.S3EventRecord, key string) string {
	switch {
	case !isCreation(rec.EventName) && !(isRemoval(rec.EventName) && h.Settings.MirrorDeletes):
		return outcome.Because(outcome.ReasonNotCreated, strconv.Quote(rec.EventName))
	case rec.S3.Bucket.Name != h.Source.Bucket():
		return outcome.Because(outcome.ReasonOtherBucket, fmt.Sprintf("%q, configured %q", rec.S3.Bucket.Name, h.Source.Bucket()))
	case !h.Settings.Matches(key):
		return outcome.Because(outcome.ReasonOutsideFilter, fmt.Sprintf("not under the source prefix %q or ending in none of the suffixes", h.Settings.SourcePrefix))
	}
	return ""
}

func skipped(o outcome.Record, reason string) outcome.Record {
	o.Decision, o.Reason = outcome.Skipped, reason
	return o
}

// failed marks o for retry.
func failed(o outcome.Record, err error) outcome.Record {
	o.Decision, o.Reason, o.Retry = outcome.Failed, err.Error(), true
	return o
}

// storageError sorts an S3 error: a deleted or overwritten object needs
// nothing (the newer upload has its own event), a too-large one is bad input,
// access denied will not heal by retrying, and anything else may.
func (h *Handler) storageError(ctx context.Context, o outcome.Record, err error) outcome.Record {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return skipped(o, outcome.Because(outcome.ReasonDeleted, err.Error()))
	case errors.Is(err, storage.ErrChanged):
		return skipped(o, outcome.Because(outcome.ReasonOverwritten, "the newer upload has its own event: "+err.Error()))
	case errors.Is(err, storage.ErrTooLarge):
		return h.giveUp(ctx, o, outcome.Rejected, outcome.Because(outcome.ReasonTooLarge, err.Error()))
	case storage.Permanent(err):
		return h.giveUp(ctx, o, outcome.Failed, err.Error())
	}
	return failed(o, err)
}

// giveUp records a permanent failure. If it cannot be recorded, the record is
// retried instead, so no failure goes unrecorded.
func (h *Handler) giveUp(ctx context.Context, o outcome.Record, decision outcome.Decision, reason string) outcome.Record {
	o.Decision, o.Reason = decision, reason
	if h.Failures == nil {
		return o
	}
	err := h.Failures.Report(ctx, failures.Failure{
		Bucket: o.Bucket, Key: o.Key, ETag: o.ETag, Reason: reason, Decision: decision, Time: time.Now().UTC(),
	})
	if err != nil {
		o = failed(o, fmt.Errorf("%s (%s), and reporting it failed: %w", decision, reason, err))
	}
	return o
}

// Observe writes the record's log line and metrics document. Handle calls it
// for every record; a caller of Object or Removed calls it with their result.
func (h *Handler) Observe(ctx context.Context, o outcome.Record) {
	level := slog.LevelInfo
	switch o.Decision {
	case outcome.Rejected:
		level = slog.LevelWarn
	case outcome.Failed:
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("bucket", o.Bucket), slog.String("key", o.Key), slog.String("etag", o.ETag),
		slog.String("decision", string(o.Decision)), slog.Int64("bytesIn", o.BytesIn), slog.Int64("bytesOut", o.BytesOut),
		slog.Int64("ms", o.Millis),
	}
	if o.Reason != "" {
		attrs = append(attrs, slog.String("reason", o.Reason))
	}
	if o.Retry {
		attrs = append(attrs, slog.Bool("retry", true))
	}
	if o.FormatIn != "" {
		attrs = append(attrs, slog.String("formatIn", string(o.FormatIn)))
	}
	if len(o.Outputs) > 0 {
		attrs = append(attrs, slog.Any("outputs", o.Outputs))
	}
	h.Log.LogAttrs(ctx, level, "record", attrs...)

	if err := h.Metrics.Emit(metricValues(o), map[string]any{"decision": o.Decision}); err != nil {
		h.Log.ErrorContext(ctx, "metrics", slog.String("error", err.Error()))
	}
}

// metricValues gives every metric a value for every record (0 or a count),
// so sums are counts and averages are honest. Bytes count what this
// invocation wrote: BytesSaved is, over the outputs written, what each is
// smaller than the upload it replaces.
func metricValues(o outcome.Record) []metrics.Value {
	var written, kept, deleted, saved float64
	for _, out := range o.Outputs {
		switch out.Decision {
		case outcome.Compressed, outcome.KeptOriginal:
			written++
			saved += float64(o.BytesIn - out.Bytes)
			if out.Decision == outcome.KeptOriginal {
				kept++
			}
		case outcome.Deleted:
			deleted++
		}
	}
	one := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	var in float64
	if written > 0 {
		in = float64(o.BytesIn)
	}
	return []metrics.Value{
		{Name: metrics.Processed, Unit: metrics.Count, Value: one(written > 0)},
		{Name: metrics.KeptOriginal, Unit: metrics.Count, Value: kept},
		{Name: metrics.Rejected, Unit: metrics.Count, Value: one(o.Decision == outcome.Rejected)},
		{Name: metrics.Failed, Unit: metrics.Count, Value: one(o.Decision == outcome.Failed)},
		{Name: metrics.Skipped, Unit: metrics.Count, Value: one(o.Decision == outcome.Skipped)},
		{Name: metrics.Deleted, Unit: metrics.Count, Value: deleted},
		{Name: metrics.BytesIn, Unit: metrics.Bytes, Value: in},
		{Name: metrics.BytesOut, Unit: metrics.Bytes, Value: float64(o.BytesOut)},
		{Name: metrics.BytesSaved, Unit: metrics.Bytes, Value: saved},
		{Name: metrics.Duration, Unit: metrics.Milliseconds, Value: float64(o.Millis)},
	}
}
