// Package pipeline turns an uploaded image into the bytes to publish: it
// identifies the format by its magic bytes, refuses what it must not decode,
// decodes with ImageMagick under resource limits, applies the EXIF
// orientation, removes private metadata, resizes, re-encodes per format, and
// keeps the (metadata-stripped) original when re-encoding does not make it
// smaller.
//
// The package is pure: it reads no files and imports no AWS package. Call
// Initialize once per process before Process, and Terminate at shutdown.
package pipeline

import (
	"context"
	"errors"
	"fmt"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Result is the outcome of Process.
type Result struct {
	Decision outcome.Decision // Compressed, KeptOriginal or Rejected
	// Reason says why an image was kept or rejected (and notes a compressed
	// output that is larger than its input). It starts with one of the
	// outcome.Reason* words, followed by ": " and details.
	Reason      string
	Output      []byte         // nil when Rejected
	FormatIn    outcome.Format // "" if unknown
	FormatOut   outcome.Format
	ContentType string // of Output
	// Extension is "" when the format is unchanged, else the new extension
	// (".jpg", ".png", ".webp") for config.Settings.DestinationKey.
	Extension     string
	Width, Height int // of the output, as displayed (EXIF orientation applied)
	Frames        int
	BytesIn       int
	BytesOut      int
}

// Process runs the steps over one image. Rejections (not an image, format not
// allowed, too large, corrupt, policy-denied) are a Result with Decision
// outcome.Rejected and a nil error: no input, however damaged, makes Process
// fail. A non-nil error means the call may succeed when retried: ctx was
// cancelled or its deadline passed (ImageMagick's time limit included), or
// ImageMagick is not initialized or refused a resource limit.
func Process(ctx context.Context, input []byte, s config.Settings) (Result, error) {
	formats, err := readableFormats()
	if err != nil {
		return Result{}, err
	}
	j := &job{ctx: ctx, in: input, s: s, readable: formats}
	defer j.close()
	for _, st := range steps {
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("pipeline: before %s: %w", st.name, err)
		}
		err := st.run(j)
		var rej *rejection
		var kept *keeping
		switch {
		case err == nil:
		case errors.As(err, &rej):
			return j.rejected(rej.reason), nil
		case errors.As(err, &kept):
			return j.keptOriginal(kept.reason)
		default:
			return Result{}, fmt.Errorf("pipeline: %s: %w", st.name, err)
		}
	}
	return j.decide()
}

// A step works on the job; it ends processing early by returning a rejection
// or a keeping, and fails it with any other error, which must be one a retry
// can cure (ImageMagick's errors go through job.classify).
type step struct {
	name string
	run  func(*job) error
}

// steps run in this order; Process checks ctx between them. Everything that
// can refuse an image cheaply (magic bytes, size, header) runs before the
// decode allocates pixels.
var steps = []step{
	{"detect", detect},
	{"limit", limit},
	{"decode", decode},
	{"animation", animation},
	{"orient", orient},
	{"colour", colour},
	{"strip", stripMetadata},
	{"resize", resize},
	{"encode", encode},
}

// job is one image on its way through the steps.
type job struct {
	ctx      context.Context
	in       []byte
	s        config.Settings
	readable map[outcome.Format]bool

	inFmt, outFmt outcome.Format
	animatedPNG   bool
	losslessWebP  bool
	head          header              // from the ping, before decoding
	mw            *imagick.MagickWand // the decoded frames; owned by the job
	frames        int
	hadPrivate    bool // the decoded image carries private metadata (set by decode)
	out           []byte
}

// setWand replaces the job's wand (e.g. by a coalesced copy), destroying the old one.
func (j *job) setWand(mw *imagick.MagickWand) {
	if j.mw != nil {
		j.mw.Destroy()
	}
	j.mw = mw
}

func (j *job) close() { j.setWand(nil) }

// rejection ends processing with Decision Rejected.
type rejection struct{ reason string }

func (r *rejection) Error() string { return r.reason }

func reject(word, format string, args ...any) error {
	return &rejection{outcome.Because(word, fmt.Sprintf(format, args...))}
}

// keeping ends processing with the stripped original.
type keeping struct{ reason string }

func (k *keeping) Error() string { return k.reason }

func keep(word, format string, args ...any) error {
	return &keeping{outcome.Because(word, fmt.Sprintf(format, args...))}
}
