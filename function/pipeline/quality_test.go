package pipeline_test

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"testing"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/browserjpeg"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/ssimulacra2"
)

// photo is a photo-like lossless input: ImageMagick's fractal plasma.
func photo(t *testing.T, w, h int) []byte {
	t.Helper()
	return fixture.Pattern(t, "plasma:fractal", w, h, "PNG")
}

// pixels decodes an image as browsers would: package browserjpeg for JPEG,
// Go's decoder for PNG, libwebp (through ImageMagick) for WebP.
func pixels(t *testing.T, data []byte) image.Image {
	t.Helper()
	if im, err := browserjpeg.Decode(data); err == nil {
		return im.NRGBA()
	}
	if img, _, err := image.Decode(bytes.NewReader(data)); err == nil {
		return img
	}
	mw := readBack(t, data)
	w, h := int(mw.GetImageWidth()), int(mw.GetImageHeight())
	px, err := mw.ExportImagePixels(0, 0, uint(w), uint(h), "RGBA", imagick.PIXEL_CHAR)
	if err != nil {
		t.Fatal(err)
	}
	return &image.NRGBA{Pix: px.([]byte), Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
}

// With a target score, the quality is chosen per image: the output's score,
// measured here on the whole image, is at least the target less 2 points and
// within 1.5 of the pipeline's estimate (above the target by more only where
// one quality step jumps further), and a higher target costs more bytes.
// Whole-image (0.3 MP) and mosaic-sampled (1.2 MP) images both.
func TestTargetScore(t *testing.T) {
	for _, size := range [][2]int{{640, 480}, {1280, 960}} {
		in := photo(t, size[0], size[1])
		ref, err := ssimulacra2.NewReference(pixels(t, in))
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"jpeg", "webp"} {
			var prevBytes int
			for _, target := range []float64{70, 85} {
				r := process(t, in, settings(func(s *config.Settings) {
					s.Outputs = []config.Output{{Format: format}}
					s.JPEG.TargetScore, s.WebP.TargetScore = target, target
				}))
				if r.Decision != outcome.Compressed || r.Quality == 0 {
					t.Fatalf("%v %s target %v: %s (%s), quality %d; want compressed at a searched quality", size, format, target, r.Decision, r.Reason, r.Quality)
				}
				got, err := ref.Score(pixels(t, r.Output))
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%v %s target %v: quality %d, estimated %.2f, whole image %.2f, %d bytes", size, format, target, r.Quality, r.Score, got, r.BytesOut)
				if got < target-2 || math.Abs(got-r.Score) > 1.5 {
					t.Errorf("%v %s target %v: the output scores %.2f (quality %d, estimated %.2f); want at least the target less 2, within 1.5 of the estimate", size, format, target, got, r.Quality, r.Score)
				}
				if r.BytesOut <= prevBytes {
					t.Errorf("%v %s: target %v took %d bytes, no more than the lower target's %d", size, format, target, r.BytesOut, prevBytes)
				}
				prevBytes = r.BytesOut
			}
		}
	}
}

// A fixed quality stays fixed: no search, no estimate.
func TestFixedQuality(t *testing.T) {
	r := process(t, photo(t, 320, 240), settings(func(s *config.Settings) {
		s.Outputs = []config.Output{{Format: "jpeg"}}
		s.JPEG.Quality, s.JPEG.TargetScore = 77, 0
	}))
	if r.Quality != 0 || r.Score != 0 {
		t.Errorf("fixed quality 77: Result.Quality %d, Score %.2f; want 0 and 0 (nothing searched)", r.Quality, r.Score)
	}
	checkQuality(t, r.Output, 77)
}

// A JPEG upload is made into outputs from the pixels browsers show of it
// (package browserjpeg), whichever libjpeg ImageMagick links: a lossless
// output of it holds exactly those pixels.
func TestJPEGDecodedAsBrowsersDo(t *testing.T) {
	in := fixture.Pattern(t, "plasma:fractal", 203, 101, "JPEG", fixture.Quality(70))
	want, err := browserjpeg.Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	r := process(t, in, settings(func(s *config.Settings) { s.Outputs = []config.Output{{Format: "png"}} }))
	got, ok := pixels(t, r.Output).(*image.NRGBA)
	if !ok {
		got = image.NewNRGBA(want.Bounds())
		draw.Draw(got, got.Rect, pixels(t, r.Output), image.Point{}, draw.Src)
	}
	rgb := want.Rows(nil, 0, want.Bounds().Dy())
	for i := range len(rgb) / 3 {
		if p := got.Pix[4*i : 4*i+3]; !bytes.Equal(p, rgb[3*i:3*i+3]) {
			t.Fatalf("pixel %d of the PNG output is %v, the browser decode %v; want the browser's pixels", i, p, rgb[3*i:3*i+3])
		}
	}
}

// Images smaller than the metric's 8x8 fall back to the fixed quality.
func TestTargetScoreTinyImage(t *testing.T) {
	r := process(t, photo(t, 6, 20), settings(func(s *config.Settings) { s.Outputs = []config.Output{{Format: "jpeg"}}; s.JPEG.TargetScore = 80 }))
	if r.Decision != outcome.Compressed || r.Quality != 0 {
		t.Errorf("6x20 with a target: %s (%s), quality %d; want compressed at the fixed quality", r.Decision, r.Reason, r.Quality)
	}
	if _, err := jpeg.Decode(bytes.NewReader(r.Output)); err != nil {
		t.Error(err)
	}
}

// A 16-bit PNG keeps every bit of its samples on an ImageMagick with fewer
// bits per sample: its own image data, only re-compressed.
func TestSixteenBitPNGKeepsItsSamples(t *testing.T) {
	if _, built := imagick.GetQuantumDepth(); built >= 16 {
		t.Skipf("this ImageMagick holds %d bits per sample: 16-bit PNGs are re-encoded", built)
	}
	// 16-bit samples whose low bytes matter, written without compression
	// (Go's encoder), so re-deflating pays.
	img := image.NewRGBA64(image.Rect(0, 0, 96, 64))
	for y := range 64 {
		for x := range 96 {
			img.SetRGBA64(x, y, color.RGBA64{uint16(x * 683), uint16(y*1021 + x), uint16(x*y*37 + 1), 0xffff})
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	in := buf.Bytes()
	r := process(t, in, settings(func(*config.Settings) {}))
	if r.Decision != outcome.Compressed || r.BytesOut >= len(in) {
		t.Fatalf("%s (%s), %d bytes of %d; want a smaller compressed PNG", r.Decision, r.Reason, r.BytesOut, len(in))
	}
	a, errA := png.Decode(bytes.NewReader(in))
	b, errB := png.Decode(bytes.NewReader(r.Output))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	for y := range a.Bounds().Dy() {
		for x := range a.Bounds().Dx() {
			if a.At(x, y) != b.At(x, y) {
				t.Fatalf("pixel (%d,%d) is %v, the input's %v; want every 16-bit sample kept", x, y, b.At(x, y), a.At(x, y))
			}
		}
	}
}

// Lossy PNG writes a palette image when it reaches the target, else the
// lossless one.
func TestLossyPNG(t *testing.T) {
	in := photo(t, 400, 300)
	lossless := process(t, in, settings(func(*config.Settings) {}))
	for _, c := range []struct {
		target  float64
		palette bool
	}{{40, true}, {99, false}} {
		r := process(t, in, settings(func(s *config.Settings) { s.PNG.TargetScore = c.target }))
		if r.Decision != outcome.Compressed {
			t.Fatalf("target %v: %s (%s)", c.target, r.Decision, r.Reason)
		}
		img, err := png.Decode(bytes.NewReader(r.Output))
		if err != nil {
			t.Fatal(err)
		}
		_, isPalette := img.(*image.Paletted)
		if isPalette != c.palette {
			t.Errorf("target %v: palette output %t, want %t (score %.2f)", c.target, isPalette, c.palette, r.Score)
		}
		if c.palette && (r.Score < c.target || r.BytesOut >= lossless.BytesOut*6/10) {
			t.Errorf("target %v: palette image scores %.2f in %d bytes; want at least the target in under 60%% of the lossless %d", c.target, r.Score, r.BytesOut, lossless.BytesOut)
		}
		if !c.palette {
			checkLossless(t, in, r)
		}
	}
}
