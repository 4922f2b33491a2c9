package pipeline_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

// TestConversions: OutputFormat converts and names the new extension; a
// conversion is kept even when larger (the format is what was asked for).
func TestConversions(t *testing.T) {
	jpg := fixture.Pattern(t, "plasma:fractal", 400, 300, "JPEG")
	alpha := fixture.Pattern(t, "gradient:none-red", 100, 100, "PNG")
	for _, tc := range []struct {
		name, output string
		in           []byte
		key          string // a truthful name for in
		wantFmt      outcome.Format
		wantExt      string
	}{
		{"jpeg to webp", "webp", jpg, "a.jpg", "webp", ".webp"},
		{"jpeg to png", "png", jpg, "a.jpeg", "png", ".png"},
		{"png with alpha to jpeg", "jpeg", alpha, "a.PNG", "jpeg", ".jpg"},
		{"same format is no conversion", "jpeg", jpg, "a.jpeg", "jpeg", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := settings(func(s *config.Settings) { s.OutputFormat = tc.output })
			r := process(t, tc.in, s)
			if got := pipeline.ExpectedExtension(tc.key, s); got != r.Extension {
				t.Errorf("ExpectedExtension(%q) = %q, but Process gave %q", tc.key, got, r.Extension)
			}
			if r.Decision != outcome.Compressed {
				t.Fatalf("%s (%s), want compressed", r.Decision, r.Reason)
			}
			if r.FormatOut != tc.wantFmt || r.Extension != tc.wantExt || r.ContentType != "image/"+string(tc.wantFmt) {
				t.Errorf("format %s, extension %q, type %s; want %s, %q, image/%s", r.FormatOut, r.Extension, r.ContentType, tc.wantFmt, tc.wantExt, tc.wantFmt)
			}
			if got := strings.ToLower(readBack(t, r.Output).GetImageFormat()); got != string(tc.wantFmt) {
				t.Errorf("output decodes as %s", got)
			}
		})
	}
	t.Run("transparent areas become white in jpeg", func(t *testing.T) {
		r := process(t, alpha, settings(func(s *config.Settings) { s.OutputFormat = "jpeg" }))
		px, err := readBack(t, r.Output).GetImagePixelColor(50, 0) // fully transparent row
		if err != nil {
			t.Fatal(err)
		}
		defer px.Destroy()
		if px.GetRed() < 0.9 || px.GetGreen() < 0.9 || px.GetBlue() < 0.9 {
			t.Errorf("transparent pixel became %.2f/%.2f/%.2f, want white", px.GetRed(), px.GetGreen(), px.GetBlue())
		}
	})
}

// TestExpectedExtensionByName covers the names TestConversions cannot make
// images for; TestConversions checks that the prediction matches Process.
func TestExpectedExtensionByName(t *testing.T) {
	keep := config.Default()
	toWebP := settings(func(s *config.Settings) { s.OutputFormat = "webp" })
	for _, tc := range []struct {
		key  string
		s    config.Settings
		want string
	}{
		{"uploads/a.HEIC", keep, ".jpg"},
		{"uploads/a.avif", keep, ".jpg"},
		{"uploads/a.gif", keep, ""},
		{"uploads/a.tiff", keep, ""},
		{"uploads/no-extension", keep, ""},
		{"uploads/a.gif", toWebP, ".webp"},
		{"uploads/a.webp", toWebP, ""},
		{"uploads/no-extension", toWebP, ".webp"},
	} {
		if got := pipeline.ExpectedExtension(tc.key, tc.s); got != tc.want {
			t.Errorf("ExpectedExtension(%q, outputFormat %q) = %q, want %q", tc.key, tc.s.OutputFormat, got, tc.want)
		}
	}
}

// TestHEIC: HEIC and AVIF become JPEG when the build reads them. The layer's
// own samples are used when the shared corpus is absent.
func TestHEIC(t *testing.T) {
	dir := filepath.Join(fixture.Root(), "layers", "imagemagick", "testdata")
	for _, name := range []string{"sample.heic", "sample.avif"} {
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Skipf("layer sample absent: %v", err)
			}
			r := process(t, in, config.Default())
			if r.Decision == outcome.Rejected && !canRead(in) {
				t.Skipf("this build cannot read %s: %s", name, r.Reason)
			}
			if r.Decision != outcome.Compressed || r.FormatOut != "jpeg" || r.Extension != ".jpg" {
				t.Errorf("%s %s->%s %q (%s); want compressed to jpeg with .jpg", r.Decision, r.FormatIn, r.FormatOut, r.Extension, r.Reason)
			}
		})
	}
}

// apng turns a PNG into a two-frame APNG: acTL and fcTL before IDAT, then a
// second frame (fcTL + fdAT) reusing the first frame's compressed data.
func apng(t *testing.T, png []byte) []byte {
	t.Helper()
	idatAt := bytes.Index(png, []byte("IDAT")) - 4
	n := int(png[idatAt])<<24 | int(png[idatAt+1])<<16 | int(png[idatAt+2])<<8 | int(png[idatAt+3])
	idat := png[idatAt+8 : idatAt+8+n]
	w, h := png[16:20], png[20:24]
	fctl := func(seq byte) []byte {
		b := []byte{0, 0, 0, seq}
		b = append(b, w...)
		b = append(b, h...)
		return append(b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 10, 0, 0) // offsets 0, delay 1/10, no dispose/blend
	}
	actl := fixture.PNGChunk("acTL", []byte{0, 0, 0, 2, 0, 0, 0, 0})
	second := append(fixture.PNGChunk("fcTL", fctl(1)), fixture.PNGChunk("fdAT", append([]byte{0, 0, 0, 2}, idat...))...)
	end := idatAt + 12 + n
	return bytes.Join([][]byte{insertAfterIHDR(png[:idatAt], actl, fixture.PNGChunk("fcTL", fctl(0))), png[idatAt:end], second, png[end:]}, nil)
}

// TestAnimationsKept: an APNG is never flattened to its first frame, and an
// animation the output format cannot hold is kept whole.
func TestAnimationsKept(t *testing.T) {
	text := fixture.PNGChunk("tEXt", []byte("Comment\x00private"))
	animated := apng(t, insertAfterIHDR(fixture.Pattern(t, "plasma:fractal", 60, 40, "PNG"), text))
	r := process(t, animated, config.Default())
	if r.Decision != outcome.KeptOriginal || !strings.HasPrefix(r.Reason, outcome.ReasonAnimatedPNG) {
		t.Fatalf("APNG: %s (%s), want kept-original with %q", r.Decision, r.Reason, outcome.ReasonAnimatedPNG)
	}
	for _, chunk := range []string{"acTL", "fcTL", "fdAT"} {
		if !bytes.Contains(r.Output, []byte(chunk)) {
			t.Errorf("APNG output lost its %s chunk", chunk)
		}
	}
	if bytes.Contains(r.Output, []byte("private")) {
		t.Error("APNG output keeps its text chunk")
	}

	gif := fixture.AnimatedGIF(t, 3)
	r = process(t, gif, settings(func(s *config.Settings) { s.OutputFormat = "webp" }))
	if r.Decision != outcome.KeptOriginal || !strings.HasPrefix(r.Reason, outcome.ReasonMultiFrame) || r.FormatOut != "gif" || r.Extension != "" {
		t.Errorf("animated GIF with outputFormat webp: %s %s %q (%s); want kept-original gif with %q", r.Decision, r.FormatOut, r.Extension, r.Reason, outcome.ReasonMultiFrame)
	}
	if r.Frames != 3 {
		t.Errorf("Frames = %d, want 3", r.Frames)
	}
}

// TestTIFF: single and multi-page TIFF are re-encoded losslessly (deflate)
// with every page.
func TestTIFF(t *testing.T) {
	uncompressed := func(mw *imagick.MagickWand) error { return mw.SetImageCompression(imagick.COMPRESSION_NO) }
	single := fixture.Pattern(t, "gradient:red-blue", 200, 100, "TIFF", uncompressed)
	pages := imagick.NewMagickWand()
	defer pages.Destroy()
	for _, spec := range []string{"gradient:red-blue", "gradient:green-yellow", "xc:gray"} {
		if err := pages.SetSize(120, 80); err != nil {
			t.Fatal(err)
		}
		if err := pages.ReadImage(spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := pages.SetFormat("TIFF"); err != nil {
		t.Fatal(err)
	}
	multi, err := pages.GetImagesBlob()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		in     []byte
		frames int
	}{{"single page", single, 1}, {"three pages", multi, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			r := process(t, tc.in, config.Default())
			if r.Decision != outcome.Compressed || r.FormatOut != "tiff" || r.Frames != tc.frames {
				t.Fatalf("%s %s %d frames (%s), want compressed tiff with %d frames", r.Decision, r.FormatOut, r.Frames, r.Reason, tc.frames)
			}
			checkLossless(t, tc.in, r)
			if c := readBack(t, r.Output).GetImageCompression(); c != imagick.COMPRESSION_ZIP {
				t.Errorf("compression %d, want ZIP", c)
			}
		})
	}
}

// TestTIFFFallback: a TIFF cannot be stripped at the container level, so
// when re-encoding does not make it smaller the original is published only if
// it carries no private metadata; otherwise the re-encoded image is.
func TestTIFFFallback(t *testing.T) {
	deflate9 := func(mw *imagick.MagickWand) error {
		return firstErr(mw.SetCompression(imagick.COMPRESSION_ZIP), mw.SetCompressionQuality(90))
	}
	plain := fixture.Pattern(t, "plasma:fractal", 200, 100, "TIFF", deflate9)
	private := fixture.Pattern(t, "plasma:fractal", 200, 100, "TIFF", deflate9, func(mw *imagick.MagickWand) error {
		return firstErr(mw.SetImageProperty("comment", "at home"), mw.SetImageProperty("tiff:artist", "someone"))
	})
	if !bytes.Contains(private, []byte("at home")) {
		t.Fatal("the test TIFF does not carry its description")
	}
	level1 := settings(func(s *config.Settings) { s.PNG.CompressionLevel = 1 })
	r := process(t, plain, level1)
	if r.Decision != outcome.KeptOriginal || !bytes.Equal(r.Output, plain) {
		t.Errorf("plain TIFF: %s (%s), want kept-original with the original bytes", r.Decision, r.Reason)
	}
	r = process(t, private, level1)
	if r.Decision != outcome.Compressed || !strings.HasPrefix(r.Reason, outcome.ReasonLarger) {
		t.Fatalf("TIFF with metadata: %s (%s), want compressed with %q", r.Decision, r.Reason, outcome.ReasonLarger)
	}
	for _, s := range []string{"at home", "someone"} {
		if bytes.Contains(r.Output, []byte(s)) {
			t.Errorf("output still contains %q", s)
		}
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
