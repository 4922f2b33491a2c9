// Package handler turns S3 ObjectCreated events into compressed copies in the
// destination bucket: it decides which records to skip, reads the upload,
// runs the pipeline, writes the output with its provenance, and records every
// outcome in a log line and a metrics document.
package handler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/failures"
	"github.com/s3-image-compressor/s3-image-compressor/function/metrics"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
)

// Compress is pipeline.Process.
type Compress func(ctx context.Context, input []byte, s config.Settings) (pipeline.Result, error)

// Config wires a Handler.
type Config struct {
	Settings    config.Settings
	Source      *storage.Source
	Destination *storage.Destination
	Compress    Compress
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
	settingsHash string
}

// New returns a Handler for c.
func New(c Config) *Handler {
	if c.Reserve == 0 {
		c.Reserve = 500 * time.Millisecond
	}
	if c.MinRecordTime == 0 {
		c.MinRecordTime = 2 * time.Second
	}
	return &Handler{Config: c, settingsHash: c.Settings.Hash()}
}

// Handle processes every record. When any record failed in a way a retry may
// fix, it returns an error after the whole batch, so Lambda retries the event;
// records already done are then skipped as duplicates.
func (h *Handler) Handle(ctx context.Context, event events.S3Event) (outcome.Response, error) {
	resp := outcome.Response{Records: make([]outcome.Record, 0, len(event.Records))}
	var retry []string
	for _, rec := range event.Records {
		start := time.Now()
		var o outcome.Record
		var res pipeline.Result
		if left, ok := h.timeLeft(ctx); ok && left < h.MinRecordTime {
			o = newRecord(rec)
			o.Decision, o.Retry = outcome.Failed, true
			o.Reason = outcome.Because(outcome.ReasonNotStarted, fmt.Sprintf("%v of the invocation left, a record needs %v", left.Round(time.Millisecond), h.MinRecordTime))
		} else {
			o, res = h.record(ctx, rec)
		}
		o.Millis = time.Since(start).Milliseconds()
		h.observe(ctx, o, res)
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

// record handles one record. Its result is the pipeline's, when it ran.
func (h *Handler) record(ctx context.Context, rec events.S3EventRecord) (outcome.Record, pipeline.Result) {
	o := newRecord(rec)
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-h.Reserve))
		defer cancel()
	}
	if reason := h.skip(rec, o.Key); reason != "" {
		return h.skipped(o, reason), pipeline.Result{}
	}
	if size := rec.S3.Object.Size; size > h.Settings.Limits.MaxInputBytes {
		return h.giveUp(ctx, o, outcome.Rejected, outcome.Because(outcome.ReasonTooLarge, fmt.Sprintf("%d bytes, limit %d", size, h.Settings.Limits.MaxInputBytes))), pipeline.Result{}
	}

	if o.ETag == "" { // S3 always sends one; some compatible servers may not
		obj, err := h.Source.Head(ctx, o.Key)
		if err != nil {
			return h.storageError(ctx, o, err), pipeline.Result{}
		}
		o.ETag = obj.ETag
	}
	want := storage.Provenance{SourceBucket: o.Bucket, SourceKey: o.Key, SourceETag: o.ETag, SettingsHash: h.settingsHash}
	checked := h.likelyOutputKeys(o.Key)
	if key, err := h.findOutput(ctx, want, checked); err != nil || key != "" {
		return h.duplicate(ctx, o, key, err), pipeline.Result{}
	}

	obj, input, err := h.Source.Get(ctx, o.Key, o.ETag, h.Settings.Limits.MaxInputBytes)
	if err != nil {
		return h.storageError(ctx, o, err), pipeline.Result{}
	}
	if obj.Output {
		return h.skipped(o, outcome.Because(outcome.ReasonOwnOutput, "the object carries the "+storage.OutputMarker+" marker")), pipeline.Result{}
	}
	o.BytesIn = int64(len(input))

	res, err := h.Compress(ctx, input, h.Settings)
	if err != nil {
		return h.failed(o, fmt.Errorf("compress: %w", err)), res
	}
	if res.Decision == outcome.Rejected {
		return h.giveUp(ctx, o, res.Decision, res.Reason), res
	}

	key := h.Settings.DestinationKey(o.Key, res.Extension)
	if !slices.Contains(checked, key) {
		if key, err := h.findOutput(ctx, want, []string{key}); err != nil || key != "" {
			return h.duplicate(ctx, o, key, err), res
		}
	}
	want.Decision = res.Decision
	want.BytesIn, want.BytesOut = int64(res.BytesIn), int64(len(res.Output))
	err = h.Destination.Put(ctx, storage.Output{
		Key: key, Body: res.Output, ContentType: res.ContentType, CacheControl: h.Settings.CacheControl, Provenance: want,
	})
	if err != nil {
		return h.storageError(ctx, o, err), res
	}
	o.Decision, o.Reason, o.DestinationKey = res.Decision, res.Reason, key
	o.BytesOut = int64(len(res.Output))
	return o, res
}

// skip says why rec is none of this function's business, or "".
func (h *Handler) skip(rec events.S3EventRecord, key string) string {
	switch {
	case !strings.HasPrefix(strings.TrimPrefix(rec.EventName, "s3:"), "ObjectCreated:"):
		return outcome.Because(outcome.ReasonNotCreated, strconv.Quote(rec.EventName))
	case rec.S3.Bucket.Name != h.Source.Bucket():
		return outcome.Because(outcome.ReasonOtherBucket, fmt.Sprintf("%q, configured %q", rec.S3.Bucket.Name, h.Source.Bucket()))
	case !h.Settings.Matches(key):
		return outcome.Because(outcome.ReasonOutsideFilter, fmt.Sprintf("not under the source prefix %q or ending in none of the suffixes", h.Settings.SourcePrefix))
	}
	return ""
}

// findOutput returns the first of keys holding an output of want's source
// version made with want's settings, or "".
func (h *Handler) findOutput(ctx context.Context, want storage.Provenance, keys []string) (string, error) {
	for _, key := range keys {
		have, ok, err := h.Destination.Provenance(ctx, key)
		if err != nil {
			return "", err
		}
		if ok && have.Same(want) {
			return key, nil
		}
	}
	return "", nil
}

// duplicate finishes o after findOutput: skipped as a duplicate of the output
// at key, or the error.
func (h *Handler) duplicate(ctx context.Context, o outcome.Record, key string, err error) outcome.Record {
	if err != nil {
		return h.storageError(ctx, o, err)
	}
	o = h.skipped(o, outcome.Because(outcome.ReasonDuplicate, "the destination already holds this version's output with these settings"))
	o.DestinationKey = key
	return o
}

// likelyOutputKeys are where the output of key is expected before the
// pipeline has run: under the key's own extension, and under the one the
// pipeline gives its format if that differs. Checking them first makes a
// duplicate delivery cost a HEAD instead of a decode.
func (h *Handler) likelyOutputKeys(key string) []string {
	keys := []string{h.Settings.DestinationKey(key, "")}
	if ext := pipeline.ExpectedExtension(key, h.Settings); ext != "" {
		if other := h.Settings.DestinationKey(key, ext); other != keys[0] {
			keys = append(keys, other)
		}
	}
	return keys
}

func (h *Handler) skipped(o outcome.Record, reason string) outcome.Record {
	o.Decision, o.Reason = outcome.Skipped, reason
	return o
}

// failed marks o for retry.
func (h *Handler) failed(o outcome.Record, err error) outcome.Record {
	o.Decision, o.Reason, o.Retry = outcome.Failed, err.Error(), true
	return o
}

// storageError sorts an S3 error: a deleted or overwritten object needs
// nothing (the newer upload has its own event), a too-large one is bad input,
// access denied will not heal by retrying, and anything else may.
func (h *Handler) storageError(ctx context.Context, o outcome.Record, err error) outcome.Record {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return h.skipped(o, outcome.Because(outcome.ReasonDeleted, err.Error()))
	case errors.Is(err, storage.ErrChanged):
		return h.skipped(o, outcome.Because(outcome.ReasonOverwritten, "the newer upload has its own event: "+err.Error()))
	case errors.Is(err, storage.ErrTooLarge):
		return h.giveUp(ctx, o, outcome.Rejected, outcome.Because(outcome.ReasonTooLarge, err.Error()))
	case storage.Permanent(err):
		return h.giveUp(ctx, o, outcome.Failed, err.Error())
	}
	return h.failed(o, err)
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
		return h.failed(o, fmt.Errorf("%s (%s), and reporting it failed: %w", decision, reason, err))
	}
	return o
}

// observe writes the record's log line and metrics document.
func (h *Handler) observe(ctx context.Context, o outcome.Record, res pipeline.Result) {
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
	if o.DestinationKey != "" {
		attrs = append(attrs, slog.String("destinationKey", o.DestinationKey))
	}
	if res.FormatIn != "" {
		attrs = append(attrs, slog.String("formatIn", string(res.FormatIn)), slog.String("formatOut", string(res.FormatOut)),
			slog.Int("width", res.Width), slog.Int("height", res.Height))
	}
	h.Log.LogAttrs(ctx, level, "record", attrs...)

	if err := h.Metrics.Emit(metricValues(o), map[string]any{"decision": o.Decision}); err != nil {
		h.Log.ErrorContext(ctx, "metrics", slog.String("error", err.Error()))
	}
}

// metricValues gives every metric a value for every record (0 or 1 for the
// counts), so sums are counts and averages are honest.
func metricValues(o outcome.Record) []metrics.Value {
	one := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	processed := o.Decision.Stored()
	var in, out float64
	if processed {
		in, out = float64(o.BytesIn), float64(o.BytesOut)
	}
	return []metrics.Value{
		{Name: metrics.Processed, Unit: metrics.Count, Value: one(processed)},
		{Name: metrics.KeptOriginal, Unit: metrics.Count, Value: one(o.Decision == outcome.KeptOriginal)},
		{Name: metrics.Rejected, Unit: metrics.Count, Value: one(o.Decision == outcome.Rejected)},
		{Name: metrics.Failed, Unit: metrics.Count, Value: one(o.Decision == outcome.Failed)},
		{Name: metrics.Skipped, Unit: metrics.Count, Value: one(o.Decision == outcome.Skipped)},
		{Name: metrics.BytesIn, Unit: metrics.Bytes, Value: in},
		{Name: metrics.BytesOut, Unit: metrics.Bytes, Value: out},
		{Name: metrics.BytesSaved, Unit: metrics.Bytes, Value: in - out},
		{Name: metrics.Duration, Unit: metrics.Milliseconds, Value: float64(o.Millis)},
	}
}
