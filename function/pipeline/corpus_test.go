package pipeline_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

var (
	accept = []outcome.Decision{outcome.Compressed, outcome.KeptOriginal}
	refuse = []outcome.Decision{outcome.Rejected}
)

// expected decisions per corpus category, and the checks beyond the
// invariants that every result must meet.
var categories = map[string]struct {
	decisions []outcome.Decision
	check     func(t *testing.T, in []byte, r pipeline.Result)
}{
	"photo-jpeg":      {accept, checkSmaller},
	"photo-png":       {accept, checkLossless},
	"kodak":           {accept, checkLossless},
	"pngsuite":        {accept, checkLossless},
	"png-16bit":       {accept, both(checkLossless, checkDepth16)},
	"png-alpha":       {accept, both(checkLossless, checkAlphaKept)},
	"gif-animated":    {accept, checkAnimation},
	"jpeg-cmyk":       {[]outcome.Decision{outcome.Compressed}, checkCMYK},
	"webp":            {accept, checkWebP},
	"heic-avif":       {[]outcome.Decision{outcome.Compressed}, checkConvertedToJPEG},
	"malformed":       {refuse, nil},
	"pngsuite-broken": {refuse, nil},
	"bomb":            {refuse, checkReason(outcome.ReasonTooLarge)},
}

// validDespiteCategory lists corpus files filed under "malformed" whose
// decoder reads every pixel from the file's data, checked by eye, and are
// therefore accepted.
var validDespiteCategory = map[string]string{
	"exifsamples_invalid_image01713.jpg":               "its EXIF is invalid, its JPEG data is not (a 49x500 dark UI strip, no libjpeg warning)",
	"libwebptd_bad_palette_index.webp":                 "libwebp decodes out-of-range palette indices as transparent black by specification",
	"mdx_its_png_1ebd73c1d3fbc89782f29507364128fc.png": "only its iCCP chunk is invalid (a CMYK profile in an RGB PNG); libpng ignores it and the pixels are intact",
	"pillow_truncated_jpeg.jpg":                        "only the last byte of EOI is missing: every scan is complete, and its pixels equal those of the file with EOI restored",
}

func TestCorpus(t *testing.T) {
	s := config.Default()
	for _, smp := range fixture.Corpus(t) {
		t.Run(smp.Name, func(t *testing.T) {
			want, ok := categories[smp.Category]
			if !ok {
				t.Fatalf("no expectation for category %q", smp.Category)
			}
			decisions, check := want.decisions, want.check
			if why, ok := validDespiteCategory[smp.Name]; ok {
				t.Logf("accepted although filed as %s: %s", smp.Category, why)
				decisions, check = accept, nil
			}
			r, err := processOne(t, context.Background(), smp.Data, s)
			if err != nil {
				t.Fatalf("Process: %v (a corpus file must never fail transiently)", err)
			}
			if r.Decision == outcome.Rejected && smp.Category == "heic-avif" && !canRead(smp.Data) {
				t.Skipf("this ImageMagick build cannot read %s: %s", r.FormatIn, r.Reason)
			}
			if !slices.Contains(decisions, r.Decision) {
				t.Fatalf("decision %s (%s), want one of %v", r.Decision, r.Reason, decisions)
			}
			checkInvariants(t, smp.Data, r)
			if check != nil && !t.Failed() {
				check(t, smp.Data, r)
			}
			if r.Decision != outcome.Rejected {
				t.Logf("%s %d -> %d bytes (%.1f%%) %s", r.Decision, r.BytesIn, r.BytesOut, 100*float64(r.BytesOut)/float64(r.BytesIn), r.Reason)
			} else {
				t.Logf("rejected: %s", r.Reason)
			}
		})
	}
}

func canRead(data []byte) bool {
	mw := imagick.NewMagickWand()
	defer mw.Destroy()
	return mw.PingImageBlob(data) == nil
}

// checkInvariants holds for every result: consistent fields, an output that
// decodes in the announced format, never bigger unless the reason says why,
// and no private metadata.
func checkInvariants(t *testing.T, in []byte, r pipeline.Result) {
	t.Helper()
	if r.BytesIn != len(in) {
		t.Errorf("BytesIn = %d, want %d", r.BytesIn, len(in))
	}
	if r.Reason != "" && outcome.Word(r.Reason) == "" {
		t.Errorf("reason %q does not start with a Reason* word", r.Reason)
	}
	if r.Decision == outcome.Rejected {
		if r.Output != nil || r.BytesOut != 0 || r.Reason == "" {
			t.Errorf("rejected result has output %d bytes, BytesOut %d, reason %q; want nil, 0 and a reason", len(r.Output), r.BytesOut, r.Reason)
		}
		return
	}
	if r.BytesOut != len(r.Output) {
		t.Errorf("BytesOut = %d, len(Output) = %d", r.BytesOut, len(r.Output))
	}
	if r.BytesOut > r.BytesIn && !strings.HasPrefix(r.Reason, outcome.ReasonLarger) {
		t.Errorf("output is %d bytes, bigger than the input %d, without a %q reason", r.BytesOut, r.BytesIn, outcome.ReasonLarger)
	}
	if r.Decision == outcome.KeptOriginal && r.FormatOut != r.FormatIn {
		t.Errorf("kept-original changed the format %s -> %s", r.FormatIn, r.FormatOut)
	}
	if want := "image/" + string(r.FormatOut); r.ContentType != want {
		t.Errorf("ContentType %q, want %q", r.ContentType, want)
	}
	mw := readBack(t, r.Output)
	if got := outcome.Format(strings.ToLower(mw.GetImageFormat())); got != r.FormatOut {
		t.Errorf("output decodes as %s, want %s", got, r.FormatOut)
	}
	if got := int(mw.GetNumberImages()); got != r.Frames {
		t.Errorf("output has %d frames, Result.Frames = %d", got, r.Frames)
	}
	if w, h := displayed(t, r.Output); w != r.Width || h != r.Height {
		t.Errorf("output displays as %dx%d, Result says %dx%d", w, h, r.Width, r.Height)
	}
	checkNoPrivate(t, mw)
}

// displayed is the output's size once its EXIF orientation (if any) is applied;
// for animations, the canvas.
func displayed(t *testing.T, data []byte) (int, int) {
	t.Helper()
	mw := readBack(t, data)
	if mw.GetNumberImages() > 1 {
		w, h, _, _, err := mw.GetImagePage()
		if err != nil {
			t.Fatal(err)
		}
		return int(w), int(h)
	}
	if err := mw.AutoOrientImage(); err != nil {
		t.Fatal(err)
	}
	return int(mw.GetImageWidth()), int(mw.GetImageHeight())
}

// checkNoPrivate: no GPS or other EXIF field but the orientation, no XMP,
// IPTC or Photoshop profile, no comment, in any frame.
func checkNoPrivate(t *testing.T, mw *imagick.MagickWand) {
	t.Helper()
	for i := range int(mw.GetNumberImages()) {
		mw.SetIteratorIndex(i)
		for _, p := range mw.GetImageProfiles("*") {
			if !slices.Contains([]string{"icc", "icm", "exif"}, p) {
				t.Errorf("frame %d keeps the %s profile", i, p)
			}
		}
		for _, p := range mw.GetImageProperties("exif:*") {
			if p != "exif:Orientation" {
				t.Errorf("frame %d keeps EXIF field %s = %q", i, p, mw.GetImageProperty(p))
			}
		}
		if c := mw.GetImageProperty("comment"); c != "" {
			t.Errorf("frame %d keeps the comment %q", i, c)
		}
	}
}

func both(checks ...func(*testing.T, []byte, pipeline.Result)) func(*testing.T, []byte, pipeline.Result) {
	return func(t *testing.T, in []byte, r pipeline.Result) {
		for _, c := range checks {
			c(t, in, r)
		}
	}
}

func checkReason(word string) func(*testing.T, []byte, pipeline.Result) {
	return func(t *testing.T, _ []byte, r pipeline.Result) {
		if !strings.HasPrefix(r.Reason, word+": ") {
			t.Errorf("reason %q, want it to start with %q", r.Reason, word)
		}
	}
}

func checkSmaller(t *testing.T, in []byte, r pipeline.Result) {
	t.Helper()
	if r.BytesOut >= len(in) {
		t.Errorf("photo output %d bytes, want fewer than the input %d", r.BytesOut, len(in))
	}
}

// checkLossless compares every pixel (colour and alpha) of input and output.
func checkLossless(t *testing.T, in []byte, r pipeline.Result) {
	t.Helper()
	a, b := readBack(t, in), readBack(t, r.Output)
	if a.GetImageWidth() != b.GetImageWidth() || a.GetImageHeight() != b.GetImageHeight() {
		t.Fatalf("size changed: %dx%d -> %dx%d", a.GetImageWidth(), a.GetImageHeight(), b.GetImageWidth(), b.GetImageHeight())
	}
	diff, distortion := a.CompareImages(b, imagick.METRIC_ABSOLUTE_ERROR)
	diff.Destroy()
	if distortion != 0 {
		t.Errorf("%g pixels differ between input and %s output; PNG must be lossless", distortion, r.Decision)
	}
}

func checkDepth16(t *testing.T, in []byte, r pipeline.Result) {
	t.Helper()
	if got := readBack(t, r.Output).GetImageDepth(); got != 16 {
		t.Errorf("output depth %d, want 16 (input depth %d)", got, readBack(t, in).GetImageDepth())
	}
}

func checkAlphaKept(t *testing.T, in []byte, r pipeline.Result) {
	t.Helper()
	if a, b := readBack(t, in).GetImageAlphaChannel(), readBack(t, r.Output).GetImageAlphaChannel(); a != b {
		t.Errorf("alpha channel %v in the output, %v in the input", b, a)
	}
}

// checkAnimation: every frame, the timing and the looping survive.
func checkAnimation(t *testing.T, in []byte, r pipeline.Result) {
	t.Helper()
	a, b := readBack(t, in), readBack(t, r.Output)
	if a.GetNumberImages() != b.GetNumberImages() {
		t.Errorf("%d frames in the output, %d in the input", b.GetNumberImages(), a.GetNumberImages())
	}
	if da, db := totalDelay(a), totalDelay(b); da != db {
		t.Errorf("animation lasts %d ticks in the output, %d in the input", db, da)
	}
	if a.GetImageIterations() != b.GetImageIterations() {
		t.Errorf("loop count %d in the output, %d in the input", b.GetImageIterations(), a.GetImageIterations())
	}
}

func totalDelay(mw *imagick.MagickWand) uint {
	var sum uint
	for i := range int(mw.GetNumberImages()) {
		mw.SetIteratorIndex(i)
		sum += mw.GetImageDelay()
	}
	return sum
}

// checkCMYK: the output is sRGB and its colours are where the source's are.
// The corpus file is Pillow's sample: red at the top left, black at the
// bottom right (Pillow's own CMYK test asserts the same); the generated
// stand-in is a red-to-blue gradient.
func checkCMYK(t *testing.T, in []byte, r pipeline.Result) {
	t.Helper()
	mw := readBack(t, r.Output)
	if cs := mw.GetImageColorspace(); cs != imagick.COLORSPACE_SRGB && cs != imagick.COLORSPACE_GRAY {
		t.Errorf("output colour space %d, want sRGB", cs)
	}
	w, h := int(mw.GetImageWidth()), int(mw.GetImageHeight())
	bottom := [3]float64{0, 0, 0} // black
	if bytes.Contains(in, []byte("generated")) || !corpusPresent() {
		bottom = [3]float64{0, 0, 1} // blue
	}
	for _, p := range []struct {
		x, y int
		want [3]float64
	}{{2, 2, [3]float64{1, 0, 0}}, {w - 3, h - 3, bottom}} {
		px, err := mw.GetImagePixelColor(p.x, p.y)
		if err != nil {
			t.Fatal(err)
		}
		got := [3]float64{px.GetRed(), px.GetGreen(), px.GetBlue()}
		px.Destroy()
		for c := range 3 {
			if d := got[c] - p.want[c]; d > 0.25 || d < -0.25 {
				t.Errorf("pixel (%d,%d) = %.2f, want about %.2f", p.x, p.y, got, p.want)
				break
			}
		}
	}
}

// checkWebP: a lossless WebP stays lossless.
func checkWebP(t *testing.T, in []byte, r pipeline.Result) {
	t.Helper()
	if r.Decision == outcome.Compressed && isVP8L(in) {
		if !isVP8L(r.Output) {
			t.Error("a lossless WebP was re-encoded lossy")
		}
		checkLossless(t, in, r)
	}
}

func isVP8L(b []byte) bool { return bytes.Contains(b[:min(len(b), 64)], []byte("VP8L")) }

func checkConvertedToJPEG(t *testing.T, _ []byte, r pipeline.Result) {
	t.Helper()
	if r.FormatOut != "jpeg" || r.ContentType != "image/jpeg" {
		t.Errorf("%s became %s (%s), want jpeg", r.FormatIn, r.FormatOut, r.ContentType)
	}
}
