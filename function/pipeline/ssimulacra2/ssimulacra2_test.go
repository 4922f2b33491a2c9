package ssimulacra2_test

import (
	"bytes"
	"flag"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/ssimulacra2"
)

var dump = flag.String("dump", "", "write the golden test's image pairs as PNG files into this directory (to score them with the ssimulacra2 tool)")

// pattern is a deterministic photo-like test image: gradients, a sinusoid,
// hard edges and a few saturated colours.
func pattern(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			r := 128 + 100*math.Sin(fx*9+fy*3)
			g := 255 * fy
			b := 60 + 120*fx*fx
			if (x/17+y/13)%5 == 0 {
				r, g, b = 230, 40, 30
			}
			if x > w*2/3 && y < h/3 {
				v := float64((x*7 + y*11) % 64 * 4)
				r, g, b = v, v, 255-v
			}
			img.SetNRGBA(x, y, color.NRGBA{clamp(r), clamp(g), clamp(b), 255})
		}
	}
	return img
}

func clamp(v float64) uint8 { return uint8(math.Round(math.Max(0, math.Min(255, v)))) }

// noisy adds Gaussian noise of the given deviation (in 8-bit steps) to the
// colour channels, with a fixed seed.
func noisy(src image.Image, sigma float64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(1, 2))
	b := src.Bounds()
	out := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(src.At(x, y)).(color.NRGBA)
			n := func(v uint8) uint8 { return clamp(float64(v) + rng.NormFloat64()*sigma) }
			out.SetNRGBA(x, y, color.NRGBA{n(c.R), n(c.G), n(c.B), c.A})
		}
	}
	return out
}

// boxBlur averages 3x3 neighbourhoods (edges clamped).
func boxBlur(src *image.NRGBA) *image.NRGBA {
	b := src.Bounds()
	out := image.NewNRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var sum [4]int
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					c := src.NRGBAAt(min(max(x+dx, b.Min.X), b.Max.X-1), min(max(y+dy, b.Min.Y), b.Max.Y-1))
					sum[0], sum[1], sum[2], sum[3] = sum[0]+int(c.R), sum[1]+int(c.G), sum[2]+int(c.B), sum[3]+int(c.A)
				}
			}
			out.SetNRGBA(x, y, color.NRGBA{uint8((sum[0] + 4) / 9), uint8((sum[1] + 4) / 9), uint8((sum[2] + 4) / 9), uint8((sum[3] + 4) / 9)})
		}
	}
	return out
}

// posterized keeps levels values per channel.
func posterized(src *image.NRGBA, levels int) *image.NRGBA {
	out := image.NewNRGBA(src.Bounds())
	step := 255 / float64(levels-1)
	for i, v := range src.Pix {
		if i%4 == 3 {
			out.Pix[i] = v
			continue
		}
		out.Pix[i] = clamp(math.Round(float64(v)/step) * step)
	}
	return out
}

// translucent is pattern with an alpha ramp and a fully transparent corner.
func translucent(w, h int) *image.NRGBA {
	img := pattern(w, h)
	for y := range h {
		for x := range w {
			a := uint8(255 * x / (w - 1))
			if x < w/4 && y < h/4 {
				a = 0
			}
			img.Pix[img.PixOffset(x, y)+3] = a
		}
	}
	return img
}

func grey(src image.Image) *image.Gray {
	out := image.NewGray(src.Bounds())
	for y := src.Bounds().Min.Y; y < src.Bounds().Max.Y; y++ {
		for x := src.Bounds().Min.X; x < src.Bounds().Max.X; x++ {
			out.Set(x, y, src.At(x, y))
		}
	}
	return out
}

// goldenPairs are the comparisons whose scores were measured with the
// reference tool, libjxl 0.11.2's ssimulacra2, on the PNG files that -dump
// writes (go test -run TestGolden -dump DIR; ssimulacra2 DIR/NAME-orig.png
// DIR/NAME-dist.png).
func goldenPairs() []struct {
	name       string
	orig, dist image.Image
	tool       float64
} {
	base := pattern(200, 150)
	alpha := translucent(96, 64)
	small := pattern(40, 24)
	return []struct {
		name       string
		orig, dist image.Image
		tool       float64
	}{
		{"noise2", base, noisy(base, 2), 90.22498756},
		{"noise8", base, noisy(base, 8), 60.06912922},
		{"blur", base, boxBlur(base), 5.65414436},
		{"posterize", base, posterized(base, 12), 38.67057533},
		{"alpha-noise", alpha, noisy(alpha, 4), 77.68550652},
		{"alpha-posterize", alpha, posterized(alpha, 8), 45.89530675},
		{"grey-noise", grey(base), grey(noisy(base, 4)), 82.58262218},
		// 40x24 has 3 scales only, which shifts the later channels' weights.
		{"small-blur", small, boxBlur(small), 59.34649004},
	}
}

// tolerance is how far scores may differ from the tool's: the package leaves
// out the norms with negligible weights.
const tolerance = 0.01

func TestGolden(t *testing.T) {
	for _, p := range goldenPairs() {
		if *dump != "" {
			writePNG(t, filepath.Join(*dump, p.name+"-orig.png"), p.orig)
			writePNG(t, filepath.Join(*dump, p.name+"-dist.png"), p.dist)
		}
		got, err := ssimulacra2.Score(p.orig, p.dist)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		t.Logf("%s: %.4f (tool %.4f)", p.name, got, p.tool)
		if math.Abs(got-p.tool) > tolerance {
			t.Errorf("%s: score %.4f, the reference tool's %.4f", p.name, got, p.tool)
		}
	}
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIdenticalIs100(t *testing.T) {
	for _, img := range []image.Image{pattern(64, 64), translucent(33, 17), grey(pattern(9, 8))} {
		got, err := ssimulacra2.Score(img, img)
		if err != nil {
			t.Fatal(err)
		}
		if got != 100 {
			t.Errorf("%T %v against itself: %.6f, want 100", img, img.Bounds(), got)
		}
	}
}

// The fast paths for the decoders' image types read the pixels as the
// standard library converts them.
func TestImageTypesAgree(t *testing.T) {
	base := pattern(120, 90)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, base, &jpeg.Options{Quality: 60}); err != nil {
		t.Fatal(err)
	}
	decoded, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// Binary alpha survives premultiplication exactly.
	alpha := translucent(64, 48)
	for i := 3; i < len(alpha.Pix); i += 4 {
		if alpha.Pix[i] < 128 {
			alpha.Pix[i] = 0
		} else {
			alpha.Pix[i] = 255
		}
	}
	for _, c := range []struct {
		name       string
		orig, fast image.Image
	}{
		{"YCbCr", base, decoded},
		{"RGBA", alpha, drawn(image.NewRGBA(alpha.Bounds()), alpha)},
		{"Gray", base, grey(base)},
	} {
		fast, err := ssimulacra2.Score(c.orig, c.fast)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := ssimulacra2.Score(c.orig, drawn(image.NewNRGBA(c.fast.Bounds()), c.fast))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(fast-plain) > 1e-9 {
			t.Errorf("%s: %.6f, as NRGBA %.6f: the fast path reads other pixels", c.name, fast, plain)
		}
	}
}

func drawn[T draw.Image](dst T, src image.Image) T {
	draw.Draw(dst, src.Bounds(), src, src.Bounds().Min, draw.Src)
	return dst
}

func TestWorseDistortionScoresLower(t *testing.T) {
	base := pattern(128, 96)
	ref, err := ssimulacra2.NewReference(base)
	if err != nil {
		t.Fatal(err)
	}
	prev := 100.0
	for _, sigma := range []float64{1, 3, 6, 12, 24} {
		got, err := ref.Score(noisy(base, sigma))
		if err != nil {
			t.Fatal(err)
		}
		if got >= prev {
			t.Errorf("noise sigma %v scores %.3f, want below the milder noise's %.3f", sigma, got, prev)
		}
		prev = got
	}
}

// A tile's pooled score is the tile's own score; two tiles pool their norms.
func TestScoreTiles(t *testing.T) {
	base := pattern(160, 80)
	dist := noisy(base, 5)
	left, right := image.Rect(0, 0, 80, 80), image.Rect(80, 0, 160, 80)
	refL, err := ssimulacra2.NewReference(base.SubImage(left))
	if err != nil {
		t.Fatal(err)
	}
	refR, err := ssimulacra2.NewReference(base.SubImage(right))
	if err != nil {
		t.Fatal(err)
	}
	alone, err := refL.Score(dist.SubImage(left))
	if err != nil {
		t.Fatal(err)
	}
	pooledOne, err := ssimulacra2.ScoreTiles([]*ssimulacra2.Reference{refL}, []image.Image{dist.SubImage(left)})
	if err != nil {
		t.Fatal(err)
	}
	if pooledOne != alone {
		t.Errorf("one tile pooled: %.6f, want its own score %.6f", pooledOne, alone)
	}
	r, err := refR.Score(dist.SubImage(right))
	if err != nil {
		t.Fatal(err)
	}
	both, err := ssimulacra2.ScoreTiles([]*ssimulacra2.Reference{refL, refR}, []image.Image{dist.SubImage(left), dist.SubImage(right)})
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := math.Min(alone, r), math.Max(alone, r); both < lo || both > hi {
		t.Errorf("two tiles scoring %.3f and %.3f pooled to %.3f, want between them", alone, r, both)
	}
}

// A mosaic's seams are left out of the norms: noise along them counts less
// than the same noise in a plain image.
func TestMosaicIgnoresSeams(t *testing.T) {
	const cell = 64
	orig := pattern(2*cell, 2*cell)
	dist := noisy(orig, 10)
	for y := range 2 * cell {
		for x := range 2 * cell {
			if near := func(v int) bool { v %= cell; return v < 2 || v >= cell-2 }; !near(x) && !near(y) {
				i := dist.PixOffset(x, y)
				copy(dist.Pix[i:i+4], orig.Pix[i:i+4])
			}
		}
	}
	plain, err := ssimulacra2.Score(orig, dist)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ssimulacra2.NewMosaicReference(orig, cell)
	if err != nil {
		t.Fatal(err)
	}
	mosaic, err := ref.Score(dist)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plain %.2f, mosaic %.2f", plain, mosaic)
	if mosaic <= plain+5 {
		t.Errorf("noise along the seams: mosaic score %.2f, plain %.2f; want the mosaic's clearly higher", mosaic, plain)
	}
	if _, err := ssimulacra2.NewMosaicReference(orig, 4); err == nil {
		t.Error("4-pixel cells: no error")
	}
}

func TestErrors(t *testing.T) {
	if _, err := ssimulacra2.NewReference(pattern(7, 100)); err == nil {
		t.Error("a 7x100 image: no error, want one (the minimum is 8x8)")
	}
	ref, err := ssimulacra2.NewReference(pattern(20, 20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ref.Score(pattern(20, 21)); err == nil {
		t.Error("20x20 against 20x21: no error, want a size mismatch")
	}
	if _, err := ssimulacra2.ScoreTiles(nil, nil); err == nil {
		t.Error("no tiles: no error")
	}
	opaque, err := ssimulacra2.NewReference(pattern(64, 64))
	if err != nil {
		t.Fatal(err)
	}
	see, err := ssimulacra2.NewReference(translucent(64, 64))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ssimulacra2.ScoreTiles([]*ssimulacra2.Reference{opaque, see}, []image.Image{pattern(64, 64), translucent(64, 64)})
	if err == nil {
		t.Error("an opaque and a translucent tile pooled: no error")
	}
}

// TestAgainstTool compares with the reference tool on the corpus when
// SSIMULACRA2 names it (`make bench` builds it) and the corpus is present:
// each image against itself re-quantised, so both sides are plain PNGs.
func TestAgainstTool(t *testing.T) {
	tool := os.Getenv("SSIMULACRA2")
	if tool == "" {
		t.Skip("SSIMULACRA2 is not set to the reference tool; the golden test covers the algorithm")
	}
	dir := filepath.Join("..", "..", "..", "..", "shared", "corpus")
	names, _ := filepath.Glob(filepath.Join(dir, "kodak_*.png"))
	if len(names) == 0 {
		t.Skip("shared corpus absent")
	}
	tmp := t.TempDir()
	for _, name := range names[:min(len(names), 6)] {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		dist := posterized(toNRGBA(orig), 40)
		a, b := filepath.Join(tmp, "a.png"), filepath.Join(tmp, "b.png")
		writePNG(t, a, orig)
		writePNG(t, b, dist)
		out, err := exec.Command(tool, a, b).Output()
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		want, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ssimulacra2.Score(orig, dist)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > tolerance {
			t.Errorf("%s: %.4f, the tool says %.4f", filepath.Base(name), got, want)
		}
	}
}

func toNRGBA(img image.Image) *image.NRGBA {
	out := image.NewNRGBA(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}

func BenchmarkTrial(b *testing.B) {
	base := pattern(512, 512)
	dist := noisy(base, 3)
	ref, err := ssimulacra2.NewReference(base)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ref.Score(dist); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(512*512), "ns/pixel")
}
