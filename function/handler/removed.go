package handler

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
)

// Removed mirrors the removal of a source key (mirrorDeletes): when no
// version of it is current any more (deleted, or hidden by a delete marker),
// it deletes the outputs whose provenance names that key in the source
// bucket, and nothing else. When a version is still current (a non-current
// version was deleted, or the current one, making an older one current), the
// outputs of the current version stay, and are made where missing.
func (h *Handler) Removed(ctx context.Context, key string) outcome.Record {
	o := outcome.Record{Bucket: h.Source.Bucket(), Key: key}
	if current, err := h.Source.Head(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		if err != nil {
			return h.storageError(ctx, o, err)
		}
		return h.stillCurrent(ctx, key, current.ETag)
	}
	candidates, err := h.outputsOf(ctx, key)
	if err != nil {
		return h.storageError(ctx, o, err)
	}
	for _, cur := range candidates {
		out, err := h.deleteOutput(ctx, cur)
		if err != nil {
			return h.storageError(ctx, o, err)
		}
		if out.Decision == outcome.Deleted {
			o.Outputs = append(o.Outputs, out)
		}
	}
	// An upload of the key may have landed between the check above and the
	// deletes; its own event may have found its outputs already there.
	if current, err := h.Source.Head(ctx, key); err == nil {
		return h.stillCurrent(ctx, key, current.ETag)
	}
	if len(o.Outputs) == 0 {
		return skipped(o, outcome.Because(outcome.ReasonNothingToDelete, "no output in the destination names this key"))
	}
	o.Decision, o.Reason = outcome.Deleted, o.Outputs[0].Reason
	return o
}

// stillCurrent makes sure the outputs of the key's current version exist.
func (h *Handler) stillCurrent(ctx context.Context, key, etag string) outcome.Record {
	o := h.Object(ctx, key, etag)
	if o.Decision == outcome.Skipped && outcome.Word(o.Reason) == outcome.ReasonDuplicate {
		o.Reason = outcome.Because(outcome.ReasonStillCurrent, fmt.Sprintf("version %s of the key is current and its outputs stay", etag))
	}
	return o
}

// outputsOf finds the destination objects whose provenance names key: at
// the keys the configured outputs write (which the name alone decides).
func (h *Handler) outputsOf(ctx context.Context, key string) ([]storage.Current, error) {
	var found []storage.Current
	for _, out := range h.Settings.Outputs {
		cur, err := h.Destination.Current(ctx, h.Settings.OutputKey(key, out))
		if err != nil {
			return nil, err
		}
		if cur.Ours && cur.Provenance.SourceBucket == h.Source.Bucket() && cur.Provenance.SourceKey == key {
			found = append(found, cur)
		}
	}
	return found, nil
}

// deleteOutput deletes cur if it is still the object read. Written again
// since (by an upload of the key that raced the delete), it stays.
func (h *Handler) deleteOutput(ctx context.Context, cur storage.Current) (outcome.Output, error) {
	p := cur.Provenance
	out := outcome.Output{Key: cur.Key, Format: p.Format, Width: p.Width, Height: p.Height, Bytes: cur.Size, Decision: outcome.Deleted,
		Reason: outcome.Because(outcome.ReasonSourceDeleted, fmt.Sprintf("no version of s3://%s/%s is current", p.SourceBucket, p.SourceKey))}
	err := h.Destination.Delete(ctx, cur)
	switch {
	case err == nil, errors.Is(err, storage.ErrNotFound):
		return out, nil
	case errors.Is(err, storage.ErrConflict):
		out.Decision, out.Reason = outcome.Skipped, outcome.Because(outcome.ReasonOverwritten, "written again since it was read: "+err.Error())
		return out, nil
	}
	return out, err
}
