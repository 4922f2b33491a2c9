// Package config is the one configuration schema of the compressor. The CDK app
// writes it into each environment's Lambda (from cdk.json), the function reads it
// back from its environment, and the compress CLI reads it from a file, so a
// setting means the same thing in all three places.
//
// Every field has a default; a JSON document only names what it changes.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Settings says which objects are processed and how.
type Settings struct {
	// SourcePrefix selects the uploads that are processed; the stack filters
	// notifications by it and the function skips keys outside it.
	SourcePrefix string `json:"sourcePrefix"`
	// DestinationPrefix replaces SourcePrefix in the destination key.
	DestinationPrefix string `json:"destinationPrefix"`
	// Suffixes are matched case-sensitively by S3, so ".JPG" needs its own entry.
	Suffixes []string `json:"suffixes"`
	// CacheControl is set on every destination object.
	CacheControl string `json:"cacheControl"`

	// Outputs are what each upload becomes: at least one, each at its own
	// destination key. The default is one output in the upload's own format.
	Outputs []Output `json:"outputs"`
	// MirrorDeletes deletes the outputs of a source object when it is deleted
	// (or a delete marker hides it): the stack adds ObjectRemoved
	// notifications and the right to delete under the destination prefix.
	MirrorDeletes bool `json:"mirrorDeletes"`

	JPEG   JPEG   `json:"jpeg"`
	PNG    PNG    `json:"png"`
	WebP   WebP   `json:"webp"`
	AVIF   AVIF   `json:"avif"`
	Limits Limits `json:"limits"`
}

// Output is one rendition of every upload.
type Output struct {
	// Format is "original" (the upload's own format; HEIC and AVIF become
	// JPEG) or one of outcome.ConversionTargets.
	Format string `json:"format"`
	// MaxWidth and MaxHeight shrink larger images to fit, keeping the aspect
	// ratio; 0 leaves that side unbounded. Images are never enlarged.
	MaxWidth  int `json:"maxWidth,omitempty"`
	MaxHeight int `json:"maxHeight,omitempty"`
	// Suffix goes into the file name before the extension: "uploads/a.jpg"
	// with suffix "-640" and format webp is "a-640.webp" in the destination.
	Suffix string `json:"suffix,omitempty"`
	// Quality replaces the format's quality (jpeg.quality, webp.quality,
	// avif.quality) for this output; 0 keeps it.
	Quality int `json:"quality,omitempty"`
}

// Original is the Output.Format of an output in the upload's own format.
const Original = "original"

// UnmarshalJSON decodes an entry from scratch, strictly. Decoding a list
// into a slice that already holds entries (the defaults) would otherwise
// merge each entry into the one before it, so that an entry without a
// format silently kept the default's.
func (o *Output) UnmarshalJSON(doc []byte) error {
	type plain Output // without this method
	var p plain
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*o = Output(p)
	return nil
}

// Target is the format o asks for: "" for an original output, whose format
// depends on the upload (outcome.Written).
func (o Output) Target() outcome.Format {
	if o.Format == Original {
		return ""
	}
	return outcome.Format(o.Format)
}

// Name is how messages and logs name an output: its format, suffix and sizes.
func (o Output) Name() string {
	name := o.Format + o.Suffix
	if o.MaxWidth != 0 || o.MaxHeight != 0 {
		name += fmt.Sprintf(" (max %s x %s)", side(o.MaxWidth), side(o.MaxHeight))
	}
	return name
}

func side(n int) string {
	if n == 0 {
		return "any"
	}
	return strconv.Itoa(n)
}

// Lossy is how a lossy encoder chooses its quality: per image, the lowest
// quality whose output reaches TargetScore, or Quality for every image when
// TargetScore is 0. Each lossy output format has its own.
type Lossy struct {
	// Quality is the encoder's own scale (JPEG 1..100, WebP 0..100).
	Quality int `json:"quality"`
	// TargetScore is a SSIMULACRA2 score, 30..99 (90: indistinguishable at
	// 1:1, 80: very high quality, 70: high); 0 uses Quality as it is.
	TargetScore float64 `json:"targetScore,omitempty"`
}

// Searched reports whether the quality is chosen per image.
func (l Lossy) Searched() bool { return l.TargetScore > 0 }

// DefaultTargetScore is the default JPEG and WebP target: SSIMULACRA2 83.5,
// between "very high quality" (80) and indistinguishable at 1:1 (90), the
// lowest at which the corpus photos' mean score stays at least naive
// ImageMagick 6's (quality 80) and none lands more than 3 points below its
// score (83: one photo 3.1 below), at 0.95x its bytes (docs/benchmarks.md).
const DefaultTargetScore = 83.5

// Target score bounds: below 30 an image is visibly damaged; 100 is only
// reached by a lossless copy.
const (
	minTargetScore = 30
	maxTargetScore = 99
)

func (l Lossy) validate(name string, minQuality int) []error {
	var errs []error
	if l.Quality < minQuality || l.Quality > 100 {
		errs = append(errs, fmt.Errorf("%s.quality %d: want %d..100", name, l.Quality, minQuality))
	}
	if err := validateTarget(name, l.TargetScore, "fixed quality"); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// validateTarget checks name's targetScore; off says what 0 means.
func validateTarget(name string, t float64, off string) error {
	if t != 0 && (t < minTargetScore || t > maxTargetScore) {
		return fmt.Errorf("%s.targetScore %v: want 0 (%s) or a SSIMULACRA2 score %d..%d", name, t, off, minTargetScore, maxTargetScore)
	}
	return nil
}

// JPEG output settings.
type JPEG struct {
	Lossy
	// Sampling is the chroma subsampling: "4:2:0" (smallest), "4:2:2" or "4:4:4".
	Sampling    string `json:"sampling"`
	Progressive bool   `json:"progressive"`
}

// PNG output is lossless unless TargetScore asks for palette quantization.
type PNG struct {
	CompressionLevel int `json:"compressionLevel"` // zlib level 0..9
	// TargetScore > 0 (30..99) turns on lossy PNG: the image is reduced to a
	// dithered palette of at most 256 colours, which is kept only when its
	// SSIMULACRA2 score reaches TargetScore; otherwise the output is lossless.
	TargetScore float64 `json:"targetScore,omitempty"`
}

// WebP output settings.
type WebP struct {
	Lossy
	Method   int  `json:"method"` // 0 (fast) .. 6 (smallest)
	Lossless bool `json:"lossless"`
}

// AVIF output settings. The encoder's speed is fixed by the pipeline, chosen
// by measurement to fit the function's time and memory.
type AVIF struct {
	Quality int `json:"quality"` // 1..100, libheif's scale; 100 is lossless
}

// Limits bound the work one image may cause; they are checked before decoding
// where the header allows it.
type Limits struct {
	MaxInputBytes int64 `json:"maxInputBytes"`
	MaxPixels     int64 `json:"maxPixels"`    // width*height of the largest frame
	MaxDimension  int   `json:"maxDimension"` // width or height
	MaxFrames     int   `json:"maxFrames"`
	// MemoryBytes caps ImageMagick's pixel memory; beyond it ImageMagick pages
	// to disk instead of letting the Lambda run out of memory. 0 derives it
	// from the Lambda's memory size.
	MemoryBytes int64 `json:"memoryBytes"`
}

// Default is what an environment gets when cdk.json says nothing: every
// extension of every format the compressor reads, in lower and upper case.
func Default() Settings {
	var suffixes []string
	for _, f := range outcome.Formats() {
		for _, ext := range f.Extensions() {
			suffixes = append(suffixes, ext, strings.ToUpper(ext))
		}
	}
	return Settings{
		SourcePrefix:      "uploads/",
		DestinationPrefix: "uploads/",
		Suffixes:          suffixes,
		CacheControl:      "public, max-age=86400",
		Outputs:           []Output{{Format: Original}},
		// Quality chosen per image (make bench, docs/benchmarks.md): a fixed
		// quality under-spends on hard photos and over-spends on easy ones.
		JPEG: JPEG{Lossy: Lossy{Quality: 80, TargetScore: DefaultTargetScore}, Sampling: "4:2:0", Progressive: true},
		PNG:  PNG{CompressionLevel: 9},
		WebP: WebP{Lossy: Lossy{Quality: 80, TargetScore: DefaultTargetScore}, Method: 4},
		AVIF: AVIF{Quality: 60},
		Limits: Limits{
			MaxInputBytes: 50 << 20,
			MaxPixels:     50_000_000,
			MaxDimension:  16384,
			MaxFrames:     100,
		},
	}
}

// Parse reads a JSON document over the defaults and validates the result.
// Unknown fields are errors: a misspelt setting must not be silently ignored.
func Parse(doc []byte) (Settings, error) {
	s := Default()
	if len(bytes.TrimSpace(doc)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return Settings{}, fmt.Errorf("compressor settings: %w%s", err, movedHint(err))
		}
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// Validate reports every setting that is out of range, not just the first.
func (s Settings) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if s.SourcePrefix == "" {
		bad("sourcePrefix is empty: every write to the bucket would be processed; name a folder such as \"uploads/\"")
	}
	if strings.HasPrefix(s.SourcePrefix, "/") || strings.HasPrefix(s.DestinationPrefix, "/") {
		bad("prefixes must not start with \"/\" (S3 keys have no leading slash): %q, %q", s.SourcePrefix, s.DestinationPrefix)
	}
	errs = append(errs, validateSuffixes(s.Suffixes)...)
	errs = append(errs, s.validateOutputs()...)
	errs = append(errs, s.JPEG.validate("jpeg", 1)...)
	if !slices.Contains([]string{"4:2:0", "4:2:2", "4:4:4"}, s.JPEG.Sampling) {
		bad("jpeg.sampling %q: want \"4:2:0\", \"4:2:2\" or \"4:4:4\"", s.JPEG.Sampling)
	}
	if s.PNG.CompressionLevel < 0 || s.PNG.CompressionLevel > 9 {
		bad("png.compressionLevel %d: want 0..9 (zlib level)", s.PNG.CompressionLevel)
	}
	if err := validateTarget("png", s.PNG.TargetScore, "lossless"); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, s.WebP.validate("webp", 0)...)
	if s.WebP.Method < 0 || s.WebP.Method > 6 {
		bad("webp.method %d: want 0..6", s.WebP.Method)
	}
	if s.AVIF.Quality < 1 || s.AVIF.Quality > 100 {
		bad("avif.quality %d: want 1..100 (100 is lossless)", s.AVIF.Quality)
	}
	l := s.Limits
	if l.MaxInputBytes <= 0 || l.MaxPixels <= 0 || l.MaxDimension <= 0 || l.MaxFrames <= 0 || l.MemoryBytes < 0 {
		bad("limits must be positive (memoryBytes may be 0 = derived): %+v", l)
	}
	return errors.Join(errs...)
}

// validateSuffixes applies the rules S3 only enforces at deploy time: one
// notification rule per suffix, and no two rules that match the same key.
func validateSuffixes(suffixes []string) []error {
	if len(suffixes) == 0 {
		return []error{errors.New("suffixes is empty: no upload would be processed")}
	}
	var errs []error
	for i, a := range suffixes {
		if a == "" {
			errs = append(errs, errors.New("suffixes contains an empty entry, which would match every key"))
			continue
		}
		for _, b := range suffixes[i+1:] {
			if strings.HasSuffix(a, b) || strings.HasSuffix(b, a) {
				errs = append(errs, fmt.Errorf("suffixes %q and %q overlap: S3 rejects overlapping notification rules", a, b))
			}
		}
	}
	return errs
}

// Matches reports whether an object key is one the function should process:
// under the source prefix and ending in a configured suffix.
func (s Settings) Matches(key string) bool {
	if !strings.HasPrefix(key, s.SourcePrefix) {
		return false
	}
	return slices.ContainsFunc(s.Suffixes, func(suffix string) bool { return strings.HasSuffix(key, suffix) })
}
