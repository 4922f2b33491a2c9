package pipeline_test

import (
	"bytes"
	"context"
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

// TestConversions: an output's format converts; a conversion is kept even
// when larger (the format is what was asked for).
func TestConversions(t *testing.T) {
	jpg := fixture.Pattern(t, "plasma:fractal", 400, 300, "JPEG")
	alpha := fixture.Pattern(t, "gradient:none-red", 100, 100, "PNG")
	for _, tc := range []struct {
		name, output string
		in           []byte
		wantFmt      outcome.Format
	}{
		{"jpeg to webp", "webp", jpg, "webp"},
		{"jpeg to png", "png", jpg, "png"},
		{"png with alpha to jpeg", "jpeg", alpha, "jpeg"},
		{"same format is no conversion", "jpeg", jpg, "jpeg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := process(t, tc.in, settings(only(config.Output{Format: tc.output})))
			if r.Decision != outcome.Compressed {
				t.Fatalf("%s (%s), want compressed", r.Decision, r.Reason)
			}
			if r.FormatOut != tc.wantFmt || r.ContentType != "image/"+string(tc.wantFmt) {
				t.Errorf("format %s, type %s; want %s, image/%s", r.FormatOut, r.ContentType, tc.wantFmt, tc.wantFmt)
			}
			if got := strings.ToLower(readBack(t, r.Output).GetImageFormat()); got != string(tc.wantFmt) {
				t.Errorf("output decodes as %s", got)
			}
		})
	}
	t.Run("transparent areas become white in jpeg", func(t *testing.T) {
		r := process(t, alpha, settings(only(config.Output{Format: "jpeg"})))
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
			if r.Decision != outcome.Compressed || r.FormatOut != "jpeg" {
				t.Errorf("%s %s->%s (%s); want compressed to jpeg", r.Decision, r.FormatIn, r.FormatOut, r.Reason)
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
// output in a format that cannot hold the animation is skipped, not flattened.
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
	rs, err := pipeline.Process(context.Background(), gif, settings(func(s *config.Settings) {
		s.Outputs = []config.Output{{Format: "webp"}, {Format: config.Original, MaxWidth: 20}}
	}))
	if err != nil || len(rs) != 2 {
		t.Fatalf("Process of an animated GIF with two outputs: %d results, %v", len(rs), err)
	}
	if r := rs[0]; r.Decision != outcome.Skipped || !strings.HasPrefix(r.Reason, outcome.ReasonMultiFrame) || r.Output != nil {
		t.Errorf("animated GIF to webp: %s (%s), %d bytes; want skipped, nothing stored, with %q", r.Decision, r.Reason, len(r.Output), outcome.ReasonMultiFrame)
	}
	if r := rs[1]; r.Decision != outcome.Compressed || r.FormatOut != "gif" || r.Frames != 3 || r.Width != 20 {
		t.Errorf("animated GIF to a smaller GIF: %s %s, %d frames, %d px wide (%s); want a compressed 3-frame gif 20 px wide", r.Decision, r.FormatOut, r.Frames, r.Width, r.Reason)
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
