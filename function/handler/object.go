package handler

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
)

// slot is one configured output on its way: what it should record, what its
// key held when read, and what became of it.
type slot struct {
	out     config.Output
	want    storage.Provenance
	current storage.Current // Key "" until the key is read
	result  outcome.Output
	done    bool // result is final
}

// Object makes the outputs of one version of a source object (etag; ""
// means the current version) and says what became of it and of each output.
// It is the one path from an object to its outputs, whoever names the object:
// an S3 event (Handle) or a batch task. Outputs already written from this
// version with these settings are not made again, so a retry redoes only the
// missing ones and a repeated delivery rewrites nothing. It does not log; the
// caller passes the result to Observe.
func (h *Handler) Object(ctx context.Context, key, etag string) outcome.Record {
	o := outcome.Record{Bucket: h.Source.Bucket(), Key: key, ETag: etag}
	if o.ETag == "" { // S3 events always carry one; some compatible servers may not
		obj, err := h.Source.Head(ctx, key)
		if err != nil {
			return h.storageError(ctx, o, err)
		}
		o.ETag = obj.ETag
	}
	slots := make([]*slot, len(h.Settings.Outputs))
	for i, out := range h.Settings.Outputs {
		want := storage.Provenance{SourceBucket: o.Bucket, SourceKey: key, SourceETag: o.ETag, SettingsHash: h.Settings.OutputHash(out)}
		slots[i] = &slot{out: out, want: want}
	}
	// Every key is known before reading the upload: a repeated delivery
	// costs a HEAD per output.
	for _, sl := range slots {
		if err := h.check(ctx, sl, h.Settings.OutputKey(key, sl.out)); err != nil {
			return h.storageError(ctx, o, err)
		}
	}
	missing := pending(slots)
	if len(missing) == 0 {
		o.Outputs = results(slots)
		return skipped(o, outcome.Because(outcome.ReasonDuplicate, "the destination already holds this version's outputs with these settings"))
	}

	obj, input, err := h.Source.Get(ctx, key, o.ETag, h.Settings.Limits.MaxInputBytes)
	if err != nil {
		return h.storageError(ctx, o, err)
	}
	if obj.Output {
		return skipped(o, outcome.Because(outcome.ReasonOwnOutput, "the object carries the "+storage.OutputMarker+" marker"))
	}
	o.BytesIn = int64(len(input))
	// Decoding for the missing outputs only lets a JPEG be scaled for them.
	todo := h.Settings
	todo.Outputs = nil
	for _, sl := range missing {
		todo.Outputs = append(todo.Outputs, sl.out)
	}
	img, err := pipeline.Decode(ctx, input, todo)
	if err != nil {
		return failed(o, fmt.Errorf("decode: %w", err))
	}
	defer img.Close()
	o.FormatIn = img.Format()
	if reason := img.Rejection(); reason != "" {
		for _, sl := range slots {
			sl.result = outcome.Output{Key: sl.current.Key, Decision: outcome.Rejected, Reason: reason}
		}
		return h.dropSuperseded(ctx, h.giveUp(ctx, o, outcome.Rejected, reason), slots)
	}
	for _, sl := range missing {
		if err := h.make(ctx, &o, img, sl); err != nil {
			o.Outputs = results(slots)
			return h.storageError(ctx, o, err)
		}
	}
	o.Outputs = results(slots)
	return h.dropSuperseded(ctx, h.conclude(ctx, o), slots)
}

// dropSuperseded deletes, with mirrorDeletes, the output an older version of
// the source left at the key of an output this version does not have
// (rejected): it would otherwise stand for the upload that replaced it, as
// if that were its output. A newer upload since, or a write of the key
// since, leaves it to that upload's event. Without mirrorDeletes the
// function may not delete, and the older output stays, as a deleted
// upload's does.
func (h *Handler) dropSuperseded(ctx context.Context, o outcome.Record, slots []*slot) outcome.Record {
	if !h.Settings.MirrorDeletes {
		return o
	}
	dropped := false
	for _, sl := range slots {
		cur := sl.current
		if sl.result.Decision != outcome.Rejected || !cur.Ours || cur.Provenance.SourceBucket != o.Bucket ||
			cur.Provenance.SourceKey != o.Key || cur.Provenance.SourceETag == o.ETag {
			continue
		}
		if now, err := h.Source.Head(ctx, o.Key); err != nil || now.ETag != o.ETag {
			continue
		}
		out, err := h.deleteOutput(ctx, cur)
		if err != nil {
			return failed(o, err)
		}
		if out.Decision == outcome.Deleted {
			out.Reason = outcome.Because(outcome.ReasonSuperseded, fmt.Sprintf("made from version %s, replaced by version %s, which is rejected (%s)",
				cur.Provenance.SourceETag, o.ETag, sl.result.Reason))
			sl.result, dropped = out, true
		}
	}
	if dropped {
		o.Outputs = results(slots)
	}
	return o
}

// check reads what key holds for sl; an output of the same source version
// and settings there is sl's, done.
func (h *Handler) check(ctx context.Context, sl *slot, key string) error {
	cur, err := h.Destination.Current(ctx, key)
	if err != nil {
		return err
	}
	sl.current = cur
	if !cur.Ours {
		return nil
	}
	p := cur.Provenance
	if p.Same(sl.want) {
		sl.done = true
		sl.result = outcome.Output{
			Key: key, Format: p.Format, Width: p.Width, Height: p.Height, Bytes: cur.Size, Decision: outcome.Skipped,
			Reason: outcome.Because(outcome.ReasonDuplicate, "the destination already holds this version's output with these settings"),
		}
		return nil
	}
	taken, err := h.takenByOther(ctx, p, sl.want)
	if err != nil || !taken {
		return err
	}
	sl.done = true
	sl.result = outcome.Output{
		Key: key, Decision: outcome.Rejected,
		Reason: outcome.Because(outcome.ReasonKeyTaken, fmt.Sprintf(
			"%s holds the output of s3://%s/%s, whose version is current; rename one of the two uploads or give this output a suffix of its own",
			key, p.SourceBucket, p.SourceKey)),
	}
	return nil
}

// takenByOther reports whether an output of another upload, p, must stay
// where want's output would go: while that upload's version is the current
// one, replacing its output would silently leave it without one. An output
// of a deleted or overwritten upload is stale and may be replaced.
func (h *Handler) takenByOther(ctx context.Context, p, want storage.Provenance) (bool, error) {
	if p.SourceBucket == want.SourceBucket && p.SourceKey == want.SourceKey {
		return false, nil // an older version or other settings: this upload's own key
	}
	if p.SourceBucket != h.Source.Bucket() {
		return true, nil // another source bucket's output, which this function cannot look up
	}
	other, err := h.Source.Head(ctx, p.SourceKey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return other.ETag == p.SourceETag, nil
}

// make renders sl's output from the decoded upload and writes it. An error
// is a storage error or a pipeline error worth a retry; every other outcome
// is in sl.result.
func (h *Handler) make(ctx context.Context, o *outcome.Record, img *pipeline.Image, sl *slot) error {
	key := sl.current.Key
	res, err := img.Render(ctx, sl.out)
	if err != nil {
		sl.result = outcome.Output{Key: key, Decision: outcome.Failed, Reason: err.Error()}
		return fmt.Errorf("output %s: %w", key, err)
	}
	sl.result = outcome.Output{
		Key: key, Format: res.FormatOut, Width: res.Width, Height: res.Height, Bytes: int64(len(res.Output)),
		Decision: res.Decision, Reason: res.Reason, Score: res.Score,
	}
	sl.done = true
	if !res.Decision.Stored() {
		return nil
	}
	p := sl.want
	p.Decision, p.Format, p.Width, p.Height = res.Decision, res.FormatOut, res.Width, res.Height
	p.BytesIn, p.BytesOut = int64(res.BytesIn), int64(len(res.Output))
	written, err := h.put(ctx, o, storage.Output{
		Key: key, Body: res.Output, ContentType: res.ContentType, CacheControl: h.Settings.CacheControl, Provenance: p,
	}, sl)
	switch {
	case err != nil:
		sl.done = false
		sl.result.Decision, sl.result.Reason = outcome.Failed, err.Error()
		return err
	case written:
		o.BytesOut += p.BytesOut
	}
	return nil
}

// maxConflicts bounds how often one output is written again after another
// writer changed its key between reading and writing it.
const maxConflicts = 3

// put writes out over what sl.current read, unless this version is no
// longer the source's current one: an older version's output must never
// replace a newer one's, whichever invocation finishes first. The write is
// conditional on the key being as read, so a writer that read before another
// one wrote loses, reads the key again and decides anew. written is false
// when the key turned out to hold this very output, written by another
// invocation of the same event.
func (h *Handler) put(ctx context.Context, o *outcome.Record, out storage.Output, sl *slot) (written bool, err error) {
	for conflicts := 0; ; conflicts++ {
		current, err := h.Source.Head(ctx, o.Key)
		if err != nil {
			return false, err
		}
		if current.ETag != o.ETag {
			return false, fmt.Errorf("write %s: %w: the event's version is %s, the source's current one %s", out.Key, storage.ErrChanged, o.ETag, current.ETag)
		}
		err = h.Destination.Put(ctx, out, sl.current)
		if err == nil || !errors.Is(err, storage.ErrConflict) || conflicts == maxConflicts {
			return err == nil, err
		}
		if err := h.check(ctx, sl, out.Key); err != nil {
			return false, err
		}
		if sl.done {
			return false, nil
		}
	}
}

// pending are the slots not done yet.
func pending(slots []*slot) []*slot {
	var left []*slot
	for _, sl := range slots {
		if !sl.done {
			left = append(left, sl)
		}
	}
	return left
}

func results(slots []*slot) []outcome.Output {
	out := make([]outcome.Output, len(slots))
	for i, sl := range slots {
		out[i] = sl.result
	}
	return out
}

// conclude decides the record from its outputs (see outcome.Record) once
// every output was made, written, skipped or rejected. A rejected output is
// reported like a rejected upload.
func (h *Handler) conclude(ctx context.Context, o outcome.Record) outcome.Record {
	for _, d := range []outcome.Decision{outcome.Rejected, outcome.Compressed, outcome.KeptOriginal, outcome.Skipped} {
		for _, out := range o.Outputs {
			if out.Decision != d {
				continue
			}
			if d == outcome.Rejected {
				return h.giveUp(ctx, o, d, fmt.Sprintf("%s (output %s)", out.Reason, out.Key))
			}
			o.Decision, o.Reason = d, out.Reason
			return o
		}
	}
	return o
}
