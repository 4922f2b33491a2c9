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
)

// Decision says what Process did with an image.
type Decision string

const (
	// Compressed: Output is the re-encoded image.
	Compressed Decision = "compressed"
	// KeptOriginal: Output is the original image with private metadata
	// removed at the container level, because re-encoding did not make it
	// smaller or would have lost something (an animation).
	KeptOriginal Decision = "kept-original"
	// Rejected: the input is not an image the pipeline accepts; Output is nil.
	Rejected Decision = "rejected"
)

// Result is the outcome of Process.
type Result struct {
	Decision Decision
	// Reason says why an image was kept or rejected (and notes a compressed
	// output that is larger than its input). It starts with one of the
	// Reason* words, followed by ": " and details.
	Reason      string
	Output      []byte // nil when Rejected
	FormatIn    string // "jpeg", "png", "webp", "gif", "tiff", "heic", "avif"; "" if unknown
	FormatOut   string
	ContentType string // of Output
	// Extension is "" when the format is unchanged, else the new extension
	// (".jpg", ".png", ".webp") for config.Settings.DestinationKey.
	Extension     string
	Width, Height int // of the output, as displayed (EXIF orientation applied)
	Frames        int
	BytesIn       int
	BytesOut      int
}

// The first words of Result.Reason, stable for logs, metrics and tests.
const (
	ReasonEmpty         = "empty"              // rejected: no bytes
	ReasonNotImage      = "not an image"       // rejected: unrecognised content
	ReasonNotAllowed    = "format not allowed" // rejected: a format outside the allowlist
	ReasonTooLarge      = "too large"          // rejected: bytes, dimensions, pixels or ImageMagick resources
	ReasonTooManyFrames = "too many frames"    // rejected
	ReasonTooSlow       = "too slow"           // rejected: ImageMagick's time limit, with no deadline to blame
	ReasonCorrupt       = "corrupt"            // rejected: decode errors and data-corruption warnings
	ReasonPolicyDenied  = "policy-denied"      // rejected: ImageMagick's security policy refused it
	ReasonNotSmaller    = "not smaller"        // kept-original
	ReasonAnimatedPNG   = "animated png"       // kept-original: APNG frames would be lost
	ReasonMultiFrame    = "multi-frame"        // kept-original: the output format cannot hold the frames
	ReasonLarger        = "larger"             // compressed although larger: a conversion, or an original that cannot be stripped
)

// Process runs the steps over one image. Rejections (not an image, format not
// allowed, too large, corrupt, policy-denied) are a Result with Decision
// Rejected and a nil error. A non-nil error means the call may succeed when
// retried: ctx was cancelled or its deadline passed, or ImageMagick is not
// initialized.
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
// or a keeping, and fails it with any other error.
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
	readable map[string]bool

	inFmt, outFmt format
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
	return &rejection{word + ": " + fmt.Sprintf(format, args...)}
}

// keeping ends processing with the stripped original.
type keeping struct{ reason string }

func (k *keeping) Error() string { return k.reason }

func keep(word, format string, args ...any) error {
	return &keeping{word + ": " + fmt.Sprintf(format, args...)}
}
