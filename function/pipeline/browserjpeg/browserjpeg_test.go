package browserjpeg_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os/exec"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/browserjpeg"
)

// scene has sharp colour edges (where chroma upsampling shows), smooth
// gradients and an odd size, so edge columns and rows are exercised.
func scene(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255}
			if (x/7+y/5)%3 == 0 {
				c = color.NRGBA{230, 30, 40, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// libjpegTurbo runs libjpeg-turbo's cjpeg and djpeg (the decoder browsers
// use): the JPEG at sampling (cjpeg -sample), and its pixels as djpeg decodes them.
func libjpegTurbo(t *testing.T, img *image.NRGBA, sampling string, grey bool) (jpg []byte, pnm []byte) {
	t.Helper()
	if _, err := exec.LookPath("cjpeg"); err != nil {
		t.Skip("libjpeg-turbo's cjpeg/djpeg are not installed (make packages installs libjpeg-turbo-progs): no reference decoder")
	}
	var ppm bytes.Buffer
	b := img.Rect
	fmt.Fprintf(&ppm, "P6\n%d %d\n255\n", b.Dx(), b.Dy())
	for i := 0; i < len(img.Pix); i += 4 {
		ppm.Write(img.Pix[i : i+3])
	}
	args := []string{"-quality", "75", "-sample", sampling}
	if grey {
		args = append(args, "-grayscale")
	}
	run := func(name string, in []byte, args ...string) []byte {
		cmd := exec.Command(name, args...)
		cmd.Env = append(cmd.Environ(), "LD_LIBRARY_PATH=") // the system's libjpeg-turbo, not a linked jpegli
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return out
	}
	jpg = run("cjpeg", ppm.Bytes(), args...)
	return jpg, run("djpeg", jpg, "-pnm")
}

// samples reads a binary PNM's samples.
func samples(t *testing.T, pnm []byte) []byte {
	t.Helper()
	fields := 0
	for i := 0; i < len(pnm); i++ {
		if pnm[i] == '\n' || pnm[i] == ' ' {
			if fields++; fields == 4 {
				return pnm[i+1:]
			}
		}
	}
	t.Fatal("not a PNM")
	return nil
}

// Decoded rows match libjpeg-turbo's to within its integer IDCT's rounding
// (Go's differs by a level or two) for every subsampling it upsamples
// "fancily" and for greyscale, and they are closer to it than Go's own
// conversion, which repeats chroma samples.
func TestMatchesLibjpegTurbo(t *testing.T) {
	img := scene(203, 101)
	for _, tc := range []struct {
		sampling string
		grey     bool
	}{{"2x2", false}, {"2x1", false}, {"1x2", false}, {"1x1", false}, {"1x1", true}} {
		name := tc.sampling
		if tc.grey {
			name = "grey"
		}
		t.Run(name, func(t *testing.T) {
			jpg, pnm := libjpegTurbo(t, img, tc.sampling, tc.grey)
			want := samples(t, pnm)
			im, err := browserjpeg.Decode(jpg)
			if err != nil {
				t.Fatal(err)
			}
			b := im.Bounds()
			got := im.Rows(nil, 0, b.Dy())
			if len(got) != len(want) {
				t.Fatalf("%d samples, libjpeg-turbo %d", len(got), len(want))
			}
			ours, maxDiff := meanAbs(got, want)
			plain, err := jpeg.Decode(bytes.NewReader(jpg))
			if err != nil {
				t.Fatal(err)
			}
			var goRows []byte
			for y := range b.Dy() {
				for x := range b.Dx() {
					r, g, bl, _ := plain.At(x, y).RGBA()
					if tc.grey {
						goRows = append(goRows, uint8(r>>8))
					} else {
						goRows = append(goRows, uint8(r>>8), uint8(g>>8), uint8(bl>>8))
					}
				}
			}
			goMean, _ := meanAbs(goRows, want)
			t.Logf("mean |ours - libjpeg-turbo| %.3f (max %d); Go's decoder %.3f", ours, maxDiff, goMean)
			if ours > 0.3 || maxDiff > 4 {
				t.Errorf("mean difference %.3f, largest %d from libjpeg-turbo's samples; want at most 0.3 and 4", ours, maxDiff)
			}
			if tc.sampling != "1x1" && ours >= goMean/2 {
				t.Errorf("mean difference %.3f, not under half of Go's plain decoder's %.3f: chroma upsampling is not libjpeg-turbo's", ours, goMean)
			}
		})
	}
}

func meanAbs(a, b []byte) (mean float64, largest int) {
	var sum float64
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		sum += float64(d)
		largest = max(largest, d)
	}
	return sum / math.Max(1, float64(len(a))), largest
}
