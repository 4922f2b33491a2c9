// Package pipeline turns an uploaded image into the outputs to publish. It
// identifies the format by its magic bytes, refuses what it must not decode,
// decodes once with ImageMagick under resource limits, applies the EXIF
// orientation, converts CMYK and removes private metadata. From that one
// decoded image it then makes each configured output in turn: resized,
// re-encoded per format, or the (metadata-stripped) original when
// re-encoding does not make it smaller.
//
// The package is pure: it reads no files and imports no AWS package. Call
// Initialize once per process before Decode or Process, and Terminate at
// shutdown.
package pipeline

import (
	"context"
	"errors"
	"fmt"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Result is one output made from an upload, or the upload's rejection.
type Result struct {
	// Decision is Compressed or KeptOriginal for an output to store, Skipped
	// for an output this upload cannot have (an animation the format cannot
	// hold), Rejected for an upload (or an output) that must not be published.
	Decision outcome.Decision
	// Reason says why an output was kept, skipped or rejected (and notes a
	// compressed output that is larger than its input). It starts with one of
	// the outcome.Reason* words, followed by ": " and details.
	Reason      string
	Output      []byte         // nil unless stored
	FormatIn    outcome.Format // "" if unknown
	FormatOut   outcome.Format
	ContentType string // of Output
	// Width and Height are the output's, as displayed (EXIF orientation
	// applied); for an animation, the canvas.
	Width, Height int
	Frames        int
	BytesIn       int
	BytesOut      int
	// Score is the perceptual quality the encoder reached, when it measured
	// one (0: not measured): the SSIMULACRA2 score the quality search or the
	// lossy PNG check estimated. Quality is the lossy quality the search chose
	// (0 when the settings fixed it or the output is lossless).
	Score   float64
	Quality int
}

// Image is an upload decoded once, ready to make outputs from. Close it.
type Image struct {
	j         *job
	rejection string
}

// Decode runs the steps every output shares: detect, limit, decode, orient,
// colour space, strip. The outputs of s decide how far a JPEG may be scaled
// while decoding, so Render accepts only those. A rejected upload (not an
// image, format not allowed, too large, corrupt, policy-denied) is an Image
// whose Rejection says why, with a nil error: no input, however damaged,
// makes Decode fail. A non-nil error means the call may succeed when retried:
// ctx was cancelled or its deadline passed (ImageMagick's time limit
// included), or ImageMagick is not initialized or refused a resource limit.
func Decode(ctx context.Context, input []byte, s config.Settings) (*Image, error) {
	formats, err := readableFormats()
	if err != nil {
		return nil, err
	}
	j := &job{ctx: ctx, in: input, size: len(input), s: s, readable: formats}
	img := &Image{j: j}
	var rej *rejection
	switch err := j.run(decodeSteps); {
	case err == nil:
	case errors.As(err, &rej):
		img.rejection = rej.reason
		j.close()
	default:
		j.close()
		return nil, err
	}
	return img, nil
}

// Rejection is why the upload cannot be published, "" when it was decoded.
func (img *Image) Rejection() string { return img.rejection }

// Format is the upload's format by its magic bytes, "" when unknown.
func (img *Image) Format() outcome.Format { return img.j.inFmt }

// Written is the format output o of this upload is written in (Render's
// FormatOut, unless it skips or rejects the output).
func (img *Image) Written(o config.Output) outcome.Format {
	return outcome.Written(img.j.inFmt, o.Target())
}

// Close releases the decoded pixels.
func (img *Image) Close() { img.j.close() }

// Render makes output o from the decoded image, leaving the image as it is
// for the next output: only one output's pixels exist besides the decoded
// ones at any time. Errors are as for Decode.
func (img *Image) Render(ctx context.Context, o config.Output) (Result, error) {
	if img.rejection != "" {
		return Result{}, fmt.Errorf("pipeline: render %s of a rejected upload (%s)", o.Name(), img.rejection)
	}
	src := img.j
	if src.scaled && !src.allows(o) {
		return Result{}, fmt.Errorf("pipeline: output %s is larger than the JPEG was scaled for while decoding: pass it to Decode in the settings", o.Name())
	}
	j := *src // the upload's fields; the pixels are a copy of the output's own
	j.ctx, j.s, j.out = ctx, src.s.ForOutput(o), nil
	j.output = o
	j.outFmt = img.Written(o)
	j.mw = src.mw.Clone() // ImageMagick shares the pixels until the copy changes them
	defer j.close()

	var rej *rejection
	var kept *keeping
	switch err := j.run(renderSteps); {
	case err == nil:
	case errors.As(err, &rej):
		return j.rejected(rej.reason), nil
	case errors.As(err, &kept) && j.outFmt != j.inFmt:
		return j.skipped(kept.reason), nil
	case errors.As(err, &kept):
		return j.keptOriginal(kept.reason)
	default:
		return Result{}, err
	}
	return j.decide()
}

// Process decodes input once and makes every output of s, in order: one
// Result per output, or a single Rejected one for an upload that cannot be
// published. Errors are as for Decode.
func Process(ctx context.Context, input []byte, s config.Settings) ([]Result, error) {
	img, err := Decode(ctx, input, s)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	if img.rejection != "" {
		return []Result{img.j.rejected(img.rejection)}, nil
	}
	results := make([]Result, 0, len(s.Outputs))
	for _, o := range s.Outputs {
		r, err := img.Render(ctx, o)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

// A step works on the job; it ends processing early by returning a rejection
// or a keeping, and fails it with any other error, which must be one a retry
// can cure (ImageMagick's errors go through job.classify).
type step struct {
	name string
	run  func(*job) error
}

// decodeSteps run once per upload, in this order. Everything that can refuse
// an image cheaply (magic bytes, size, header) runs before the decode
// allocates pixels.
var decodeSteps = []step{
	{"detect", detect},
	{"limit", limit},
	{"decode", decode},
	{"browser pixels", browserPixels},
	{"orient", orient},
	{"colour", colour},
	{"strip", stripMetadata},
}

// renderSteps run once per output, on the output's copy of the pixels.
var renderSteps = []step{
	{"animation", animation},
	{"flatten", flatten},
	{"resize", resize},
	{"encode", encode},
}

// run runs steps in order, checking ctx between them.
func (j *job) run(steps []step) error {
	for _, st := range steps {
		if err := j.ctx.Err(); err != nil {
			return fmt.Errorf("pipeline: before %s: %w", st.name, err)
		}
		err := st.run(j)
		var rej *rejection
		var kept *keeping
		switch {
		case err == nil:
		case errors.As(err, &rej), errors.As(err, &kept):
			return err
		default:
			return fmt.Errorf("pipeline: %s: %w", st.name, err)
		}
	}
	return nil
}

// job is one image on its way through the steps: the upload while it is
// decoded, then a copy of it per output while that output is made.
type job struct {
	ctx context.Context
	// in is the upload; after decode, the part of a damaged one that the
	// decoder read (an intact container for strip and the encoders).
	in       []byte
	size     int             // bytes of the upload
	repair   string          // how decode completed in from a damaged upload ("" if it did not)
	s        config.Settings // for an output: config.Settings.ForOutput
	readable map[outcome.Format]bool

	inFmt        outcome.Format
	decoded      []byte // what the pixels were decoded from: in, or in repaired (set by decode)
	animatedPNG  bool
	losslessWebP bool
	head         header              // from the ping, before decoding
	mw           *imagick.MagickWand // the decoded frames (an output's copy of them); owned by the job
	frames       int
	hadPrivate   bool // the decoded image carries private metadata (set by decode)
	scaled       bool // the JPEG decoder scaled the image down (set by decode)

	// Set per output.
	output  config.Output
	outFmt  outcome.Format
	resized bool // the output is smaller than the upload (set by resize)
	out     []byte
	score   float64 // set by an encoder that measures the quality it reached
	// searched is the quality the search chose (0 when it did not run).
	searched int
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
