package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

func process(t *testing.T, in []byte, s config.Settings) pipeline.Result {
	t.Helper()
	r, err := processOne(t, context.Background(), in, s)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	return r
}

func settings(change func(*config.Settings)) config.Settings {
	s := config.Default()
	change(&s)
	return s
}

// TestRefused: what is not an allowlisted image by its magic bytes is
// rejected before ImageMagick sees it, whatever its name would have been.
func TestRefused(t *testing.T) {
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	for _, tc := range []struct {
		name, in, word string
	}{
		{"empty", "", outcome.ReasonEmpty},
		{"svg", `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>`, outcome.ReasonNotAllowed},
		{"svg without prolog", "<svg width='10' height='10'></svg>", outcome.ReasonNotAllowed},
		{"mvg", "push graphic-context\nviewbox 0 0 640 480\nimage over 0,0 0,0 'https://example.com/x.jpg'\npop graphic-context", outcome.ReasonNotAllowed},
		{"postscript", "%!PS-Adobe-3.0\n%%BoundingBox: 0 0 100 100\nshowpage", outcome.ReasonNotAllowed},
		{"pdf", "%PDF-1.7\n1 0 obj<<>>endobj", outcome.ReasonNotAllowed},
		{"bmp", "BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00", outcome.ReasonNotAllowed},
		{"text", "hello, this is not an image\n", outcome.ReasonNotImage},
		{"random", string(random), outcome.ReasonNotImage},
		{"truncated magic", "\x89PN", outcome.ReasonNotImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := process(t, []byte(tc.in), config.Default())
			if r.Decision != outcome.Rejected || !strings.HasPrefix(r.Reason, tc.word+": ") && !(tc.word == outcome.ReasonEmpty && strings.HasPrefix(r.Reason, tc.word)) {
				t.Errorf("%s (%s), want rejected with %q", r.Decision, r.Reason, tc.word)
			}
			if r.Output != nil {
				t.Error("a rejection has output")
			}
		})
	}
}

// TestLimits: size, dimension, pixel and frame limits are enforced from the
// settings, before decoding.
func TestLimits(t *testing.T) {
	png := fixture.Pattern(t, "gradient:red-blue", 300, 200, "PNG")
	jpg := fixture.Pattern(t, "plasma:fractal", 300, 200, "JPEG")
	for _, tc := range []struct {
		name string
		in   []byte
		s    config.Settings
		word string
	}{
		{"bytes", png, settings(func(s *config.Settings) { s.Limits.MaxInputBytes = int64(len(png) - 1) }), outcome.ReasonTooLarge},
		{"png width", png, settings(func(s *config.Settings) { s.Limits.MaxDimension = 299 }), outcome.ReasonTooLarge},
		{"jpeg height", jpg, settings(func(s *config.Settings) { s.Limits.MaxDimension = 199 }), outcome.ReasonTooLarge},
		{"pixels", jpg, settings(func(s *config.Settings) { s.Limits.MaxPixels = 300*200 - 1 }), outcome.ReasonTooLarge},
		{"frames", fixture.AnimatedGIF(t, 6), settings(func(s *config.Settings) { s.Limits.MaxFrames = 5 }), outcome.ReasonTooManyFrames},
		{"bomb header", fixture.PNGHeaderOnly(20000, 20000), config.Default(), outcome.ReasonTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := process(t, tc.in, tc.s)
			if r.Decision != outcome.Rejected || !strings.HasPrefix(r.Reason, tc.word+": ") {
				t.Errorf("%s (%s), want rejected with %q", r.Decision, r.Reason, tc.word)
			}
		})
	}
	// At the limit is still fine.
	s := settings(func(s *config.Settings) { s.Limits.MaxDimension = 300; s.Limits.MaxPixels = 300 * 200 })
	if r := process(t, jpg, s); r.Decision == outcome.Rejected {
		t.Errorf("an image exactly at the limits was rejected: %s", r.Reason)
	}
}

// TestResourceLimits: Process sets ImageMagick's limits from the settings,
// the memory size given to Initialize and the deadline.
func TestResourceLimits(t *testing.T) {
	jpg := fixture.Pattern(t, "plasma:fractal", 64, 64, "JPEG")
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
	defer cancel()
	s := settings(func(s *config.Settings) { s.Limits.MaxDimension = 5000; s.Limits.MaxFrames = 20 })
	if _, err := pipeline.Process(ctx, jpg, s); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		kind imagick.ResourceType
		want int64
	}{
		{"time from the deadline", imagick.RESOURCE_TIME, 7},
		{"memory: a quarter of Initialize's", imagick.RESOURCE_MEMORY, testMemory / 4},
		{"map: an eighth", imagick.RESOURCE_MAP, testMemory / 8},
		{"disk: Lambda's /tmp, less a margin", imagick.RESOURCE_DISK, 448 << 20},
		{"width", imagick.ResourceType(10), 5000}, // WidthResource
		// ListLengthResource: ImageMagick allows one image fewer than it.
		{"list length", imagick.ResourceType(11), 21},
	} {
		if got := imagick.GetResourceLimit(tc.kind); got != tc.want {
			t.Errorf("%s: limit %d, want %d", tc.name, got, tc.want)
		}
	}
	s.Limits.MemoryBytes = 100 << 20
	process(t, jpg, s)
	if got := imagick.GetResourceLimit(imagick.RESOURCE_MEMORY); got != 100<<20 {
		t.Errorf("memory limit %d, want limits.memoryBytes %d", got, 100<<20)
	}
}

func TestContext(t *testing.T) {
	jpg := fixture.Pattern(t, "plasma:fractal", 64, 64, "JPEG")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rs, err := pipeline.Process(ctx, jpg, config.Default())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Process with a cancelled context = %+v, %v; want context.Canceled", rs, err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := pipeline.Process(ctx, jpg, config.Default()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Process after the deadline: %v, want context.DeadlineExceeded", err)
	}
}

// TestJPEGEncoding: quality, progressive and chroma subsampling come from the
// settings and can be read back from the output.
func TestJPEGEncoding(t *testing.T) {
	in := fixture.Pattern(t, "plasma:fractal", 640, 480, "JPEG", fixture.Quality(100))
	for _, tc := range []struct {
		quality     int
		sampling    string
		progressive bool
		factors     string
	}{
		{80, "4:2:0", true, "2x2,1x1,1x1"},
		{60, "4:2:2", false, "2x1,1x1,1x1"},
		{92, "4:4:4", true, "1x1,1x1,1x1"},
	} {
		t.Run(fmt.Sprintf("q%d %s progressive=%v", tc.quality, tc.sampling, tc.progressive), func(t *testing.T) {
			r := process(t, in, settings(func(s *config.Settings) {
				s.JPEG = config.JPEG{Lossy: config.Lossy{Quality: tc.quality}, Sampling: tc.sampling, Progressive: tc.progressive}
			}))
			if r.Decision != outcome.Compressed {
				t.Fatalf("%s (%s), want compressed", r.Decision, r.Reason)
			}
			checkQuality(t, r.Output, uint(tc.quality))
			mw := readBack(t, r.Output)
			if got := mw.GetImageProperty("jpeg:sampling-factor"); got != tc.factors {
				t.Errorf("sampling factors %q, want %q", got, tc.factors)
			}
			if got := mw.GetImageInterlaceScheme() != imagick.INTERLACE_NO; got != tc.progressive {
				t.Errorf("progressive = %v, want %v", got, tc.progressive)
			}
		})
	}
}

// TestPNGCompressionLevel: the zlib level reaches the encoder (PNG quality is
// level*10+filter, never a JPEG quality).
func TestPNGCompressionLevel(t *testing.T) {
	// Stored without compression, so every level makes it smaller.
	in := fixture.Pattern(t, "plasma:fractal", 300, 300, "PNG", func(mw *imagick.MagickWand) error { return mw.SetOption("png:compression-level", "0") })
	size := map[int]int{}
	for _, level := range []int{1, 9} {
		r := process(t, in, settings(func(s *config.Settings) { s.PNG.CompressionLevel = level }))
		if r.Decision != outcome.Compressed {
			t.Fatalf("level %d: %s (%s), want compressed", level, r.Decision, r.Reason)
		}
		size[level] = r.BytesOut
		checkLossless(t, in, r)
	}
	if size[9] >= size[1] {
		t.Errorf("level 9 gave %d bytes, level 1 %d; want level 9 smaller", size[9], size[1])
	}
}

// TestResize: fit within an output's MaxWidth x MaxHeight after orientation,
// never enlarge.
func TestResize(t *testing.T) {
	landscape := fixture.Pattern(t, "plasma:fractal", 1200, 800, "JPEG")
	portrait := fixture.WithAPP1(landscape, fixture.GPSExif(6)) // stored 1200x800, displayed 800x1200
	gif := fixture.AnimatedGIF(t, 4)                            // 40x30
	for _, tc := range []struct {
		name         string
		in           []byte
		maxW, maxH   int
		wantW, wantH int
	}{
		{"width bound", landscape, 600, 0, 600, 400},
		{"height bound", landscape, 0, 200, 300, 200},
		{"both, height wins", landscape, 900, 300, 450, 300},
		{"never enlarged", landscape, 5000, 5000, 1200, 800},
		{"orientation applied first", portrait, 400, 400, 267, 400},
		{"animation", gif, 20, 0, 20, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := process(t, tc.in, settings(only(config.Output{Format: config.Original, MaxWidth: tc.maxW, MaxHeight: tc.maxH})))
			if r.Decision != outcome.Compressed {
				t.Fatalf("%s (%s), want compressed", r.Decision, r.Reason)
			}
			if r.Width != tc.wantW || r.Height != tc.wantH {
				t.Errorf("output %dx%d, want %dx%d", r.Width, r.Height, tc.wantW, tc.wantH)
			}
			if w, h := displayed(t, r.Output); w != tc.wantW || h != tc.wantH {
				t.Errorf("output decodes as %dx%d, want %dx%d", w, h, tc.wantW, tc.wantH)
			}
		})
	}
}

// TestOrientation: the pixels are turned, not just the size swapped: the
// output matches the input as a viewer shows it. In the kept-original path
// the orientation tag survives instead.
func TestOrientation(t *testing.T) {
	cases := map[string][]byte{"generated_orient6.jpg": fixture.WithAPP1(fixture.Pattern(t, "gradient:red-blue", 300, 200, "JPEG"), fixture.GPSExif(6))}
	if corpusPresent() {
		cases["exifpy_Xiaomi_Mi_9T_12MP_orient6.jpg"] = fixture.File(t, "exifpy_Xiaomi_Mi_9T_12MP_orient6.jpg")
		cases["recurser_Landscape_5_orient5.jpg"] = fixture.File(t, "recurser_Landscape_5_orient5.jpg")
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			r := process(t, in, config.Default())
			want := viewed(t, in)
			defer want.Destroy()
			if r.Width != int(want.GetImageWidth()) || r.Height != int(want.GetImageHeight()) {
				t.Errorf("%s output %dx%d, want %dx%d as displayed", r.Decision, r.Width, r.Height, want.GetImageWidth(), want.GetImageHeight())
			}
			got := viewed(t, r.Output)
			defer got.Destroy()
			if r.Decision == outcome.Compressed {
				if o := readBack(t, r.Output).GetImageOrientation(); o > imagick.ORIENTATION_TOP_LEFT {
					t.Errorf("compressed output still carries orientation %d", o)
				}
			}
			_ = want.ResizeImage(64, 64, imagick.FILTER_BOX)
			_ = got.ResizeImage(64, 64, imagick.FILTER_BOX)
			diff, d := want.CompareImages(got, imagick.METRIC_ROOT_MEAN_SQUARED_ERROR)
			diff.Destroy()
			if d > 0.05 {
				t.Errorf("output differs from the input as viewed (RMSE %.3f): orientation not applied correctly", d)
			}
		})
	}
}

// viewed decodes an image and applies its EXIF orientation, as a browser does.
func viewed(t *testing.T, data []byte) *imagick.MagickWand {
	t.Helper()
	mw := imagick.NewMagickWand()
	if err := mw.ReadImageBlob(data); err != nil {
		t.Fatal(err)
	}
	if err := mw.AutoOrientImage(); err != nil {
		t.Fatal(err)
	}
	return mw
}

// TestJPEGOptimizedHuffman: a baseline output carries Huffman tables built
// for the image, not the example tables of the JPEG standard (Annex K), which
// ImageMagick falls back to when its memory limit is below the size of the
// image's samples (here 640x480x3 bytes against 800 kB).
func TestJPEGOptimizedHuffman(t *testing.T) {
	in := fixture.Pattern(t, "plasma:fractal", 640, 480, "JPEG", fixture.Quality(100))
	r := process(t, in, settings(func(s *config.Settings) { s.JPEG.Progressive = false; s.Limits.MemoryBytes = 800_000 }))
	standardDC := []byte{0x00, 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0} // class 0, id 0, code counts
	found := false
	for pos := 2; pos+4 < len(r.Output) && r.Output[pos+1] != 0xDA; {
		n := int(r.Output[pos+2])<<8 | int(r.Output[pos+3])
		if r.Output[pos+1] == 0xC4 {
			found = true
			if bytes.Contains(r.Output[pos+4:pos+2+n], standardDC) {
				t.Error("the output uses the standard luminance DC table: Huffman coding was not optimised")
			}
		}
		pos += 2 + n
	}
	if !found {
		t.Fatalf("no DHT segment before the first scan (%s: %s)", r.Decision, r.Reason)
	}
}

// TestWebPSettings: quality and method reach the encoder; lossless is lossless.
func TestWebPSettings(t *testing.T) {
	in := fixture.Pattern(t, "plasma:fractal", 320, 240, "PNG", fixture.Depth(8)) // WebP holds 8 bits
	size := func(w config.WebP) pipeline.Result {
		r := process(t, in, settings(func(s *config.Settings) { only(config.Output{Format: "webp"})(s); s.WebP = w }))
		if r.FormatOut != "webp" {
			t.Fatalf("%s %s (%s), want webp", r.Decision, r.FormatOut, r.Reason)
		}
		return r
	}
	low, high := size(config.WebP{Lossy: config.Lossy{Quality: 20}, Method: 4}), size(config.WebP{Lossy: config.Lossy{Quality: 95}, Method: 4})
	if low.BytesOut >= high.BytesOut {
		t.Errorf("quality 20 gave %d bytes, quality 95 %d; want fewer at 20", low.BytesOut, high.BytesOut)
	}
	if fast, slow := size(config.WebP{Lossy: config.Lossy{Quality: 80}, Method: 0}), size(config.WebP{Lossy: config.Lossy{Quality: 80}, Method: 6}); fast.BytesOut == slow.BytesOut {
		t.Errorf("method 0 and 6 both gave %d bytes; want the method to reach the encoder", fast.BytesOut)
	}
	lossless := size(config.WebP{Lossy: config.Lossy{Quality: 80}, Method: 4, Lossless: true})
	if !isVP8L(lossless.Output) {
		t.Error("lossless output is not VP8L")
	}
	checkLossless(t, in, lossless)
}

// TestMemoryBudget: an image whose pixel cache exceeds what ImageMagick may
// use is refused from its header, saying by how much, instead of failing
// half-way; exactly the frame limit still decodes.
func TestMemoryBudget(t *testing.T) {
	photo := fixture.Pattern(t, "plasma:fractal", 1500, 1500, "JPEG")
	r := process(t, photo, settings(func(s *config.Settings) { s.Limits.MemoryBytes = 1 << 20 }))
	if r.Decision != outcome.Rejected || !strings.Contains(r.Reason, "MiB of pixel cache") {
		t.Errorf("%s (%s), want rejected for its pixel cache (5.5 MiB allowed, 6.4 needed at 8-bit samples, 12.9 at 16)", r.Decision, r.Reason)
	}
	if r := process(t, fixture.AnimatedGIF(t, 5), settings(func(s *config.Settings) { s.Limits.MaxFrames = 5 })); r.Decision == outcome.Rejected {
		t.Errorf("5 frames with a limit of 5: rejected (%s)", r.Reason)
	}
}
