package pipeline

import (
	"errors"
	"fmt"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/strip"
)

// decide compares the encoded output with the input. Never bigger: an output
// in the upload's own format and size that is not smaller loses to the
// stripped original. A converted or resized output is stored even when
// larger, with the reason saying so, because the format or the size is what
// was asked for: there is no original of that format or size to fall back to.
func (j *job) decide() (Result, error) {
	converted := j.outFmt != j.inFmt
	larger := len(j.out) >= j.size
	if !converted && !j.resized && larger {
		return j.keptOriginal(fmt.Sprintf("%s: re-encoded %s is %d bytes, the input %d", outcome.ReasonNotSmaller, j.outFmt, len(j.out), j.size))
	}
	r := j.compressed()
	switch {
	case larger && converted:
		r.Reason = fmt.Sprintf("%s: converted %s to %s; %d bytes, the input %d", outcome.ReasonLarger, j.inFmt, j.outFmt, len(j.out), j.size)
	case larger:
		r.Reason = fmt.Sprintf("%s: resized to %dx%d; %d bytes, the input %d", outcome.ReasonLarger, r.Width, r.Height, len(j.out), j.size)
	}
	return r, nil
}

func (j *job) compressed() Result {
	r := j.base()
	r.Decision = outcome.Compressed
	r.Output = j.out
	r.FormatOut = j.outFmt
	r.ContentType = j.outFmt.ContentType()
	j.mw.ResetIterator()
	if j.frames > 1 && j.outFmt == outcome.GIF {
		w, h, _, _, _ := j.mw.GetImagePage()
		r.Width, r.Height = int(w), int(h)
	} else {
		r.Width, r.Height = int(j.mw.GetImageWidth()), int(j.mw.GetImageHeight())
	}
	r.Frames = int(j.mw.GetNumberImages())
	r.BytesOut = len(j.out)
	r.Score = j.score
	r.Quality = j.searched
	return r
}

// keptOriginal publishes the input with its private metadata removed at the
// container level. Where the format cannot be stripped that way (TIFF, HEIC):
// an original without private metadata is published as it is; otherwise the
// re-encoded image is published even though it is larger, because a GPS
// position must never leak through the fallback; with no re-encoded image
// (frames the output cannot hold) the output is rejected. Keeping happens only
// after decode, which set hadPrivate.
func (j *job) keptOriginal(reason string) (Result, error) {
	stripped, err := strip.Strip(j.inFmt, j.in)
	switch {
	case err == nil:
	case errors.Is(err, strip.ErrUnsupported) && !j.hadPrivate:
		stripped = j.in
	case j.out != nil:
		r := j.compressed()
		r.Reason = fmt.Sprintf("%s: %s; the original cannot be stripped of its metadata (%v), so the re-encoded image is stored", outcome.ReasonLarger, reason, err)
		return r, nil
	case errors.Is(err, strip.ErrMalformed):
		return j.rejected(fmt.Sprintf("%s: %s, but its container cannot be parsed to strip metadata: %v", outcome.ReasonCorrupt, reason, err)), nil
	default:
		return j.rejected(fmt.Sprintf("%s; the original cannot be published because its private metadata cannot be removed: %v", reason, err)), nil
	}
	if len(stripped) > j.size {
		// Only a damaged original completed by decode can grow.
		reason = fmt.Sprintf("%s: %s; the original is published as the decoder read it (%s), %d bytes more than the upload", outcome.ReasonLarger, reason, j.repair, len(stripped)-j.size)
	}
	r := j.base()
	r.Decision = outcome.KeptOriginal
	r.Reason = reason
	r.Output = stripped
	r.FormatOut = j.inFmt
	r.ContentType = j.inFmt.ContentType()
	size := displayedSize(j.head)
	r.Width, r.Height = size[0], size[1]
	r.Frames = j.head.frames
	r.BytesOut = len(stripped)
	return r, nil
}

// skipped is an output this upload cannot have in the output's format: its
// frames would be lost. Nothing is stored for it.
func (j *job) skipped(reason string) Result {
	r := j.base()
	r.Decision = outcome.Skipped
	r.Reason = reason
	r.FormatOut = j.outFmt
	return r
}

func (j *job) rejected(reason string) Result {
	r := j.base()
	r.Decision = outcome.Rejected
	r.Reason = reason
	return r
}

func (j *job) base() Result {
	return Result{FormatIn: j.inFmt, BytesIn: j.size}
}
