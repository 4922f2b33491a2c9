package tools_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/tools"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus/corpustest"
)

// image renders a plasma image with magick's extra arguments.
func image(t *testing.T, m, name string, extra ...string) corpus.Image {
	t.Helper()
	return corpustest.Image(t, m, name, append([]string{"-seed", "7", "-size", "320x200", "plasma:fractal"}, extra...)...)
}

func find(t *testing.T, all []tools.Tool, name string) tools.Tool {
	t.Helper()
	for _, tool := range all {
		if tool.Name == name {
			if tool.Missing != "" {
				t.Skipf("%s: %s", name, tool.Missing)
			}
			return tool
		}
	}
	t.Fatalf("no tool %q", name)
	return tools.Tool{}
}

func TestReferencesCompressAndScore(t *testing.T) {
	m := corpustest.Magick(t)
	all := tools.New(tools.Paths{Compress: "/nonexistent/compress", Magick: m}, config.Default())
	scorer := &tools.Scorer{Magick: m, Dir: t.TempDir()}
	jpg := image(t, m, "p.jpg", "-quality", "95")
	png := image(t, m, "p.png")
	webp := image(t, m, "p.webp", "-quality", "95")
	tests := []struct {
		tool             string
		im               corpus.Image
		minSSIM, maxSSIM float64
	}{
		{tools.TurboJPEG, jpg, 0.5, 0.9999},
		{tools.NaiveMagic, jpg, 0.5, 0.9999},
		{tools.OptiPNG, png, 1, 1}, // lossless
		{tools.CWebP, webp, 0.5, 0.9999},
	}
	for _, tc := range tests {
		t.Run(tc.tool, func(t *testing.T) {
			tool := find(t, all, tc.tool)
			if !tool.Applies(tc.im) {
				t.Fatalf("%s does not apply to %s", tc.tool, tc.im.Name)
			}
			out, err := tool.Run(context.Background(), tc.im, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if out.Decision != outcome.Compressed || out.Output == "" || out.OutBytes <= 0 || out.Wall <= 0 || out.MaxRSS <= 0 {
				t.Fatalf("got %+v, want an ok output with size, time and RSS", out)
			}
			ssim, err := scorer.SSIM(context.Background(), tc.im.Path, out.Output, tool.OrientInput)
			if err != nil {
				t.Fatal(err)
			}
			if ssim < tc.minSSIM || ssim > tc.maxSSIM {
				t.Errorf("SSIM %v, want within [%v, %v]", ssim, tc.minSSIM, tc.maxSSIM)
			}
		})
	}
}

func TestToolsApplyToTheirFormats(t *testing.T) {
	all := tools.New(tools.Paths{Compress: "/bin/true", Magick: "/bin/true"}, config.Default())
	jpeg := corpus.Image{Format: outcome.JPEG}
	bomb := corpus.Image{Format: outcome.PNG, Category: corpus.Bomb}
	for _, tool := range all {
		if tool.Missing != "" {
			continue
		}
		wantJPEG := tool.Name == tools.Ours || tool.Name == tools.TurboJPEG || tool.Name == tools.NaiveMagic
		if got := tool.Applies(jpeg); got != wantJPEG {
			t.Errorf("%s applies to a JPEG: %t, want %t", tool.Name, got, wantJPEG)
		}
		if tool.Name == tools.OptiPNG && tool.Applies(bomb) {
			t.Errorf("optipng applies to a bomb; references run only on valid images of their format")
		}
	}
}

func TestMissingBinaryIsReported(t *testing.T) {
	for _, tool := range tools.New(tools.Paths{Compress: "/nonexistent/compress", Magick: "/bin/true"}, config.Default()) {
		if tool.Name == tools.Ours && !strings.Contains(tool.Missing, "/nonexistent/compress") {
			t.Errorf("ours with no compress binary: Missing = %q, want it to name the path", tool.Missing)
		}
	}
}

// A reference that fails on an input is an outcome, not a harness error.
func TestReferenceFailureIsRecorded(t *testing.T) {
	all := tools.New(tools.Paths{Compress: "/bin/true", Magick: "/bin/true"}, config.Default())
	tool := find(t, all, tools.TurboJPEG)
	bad := filepath.Join(t.TempDir(), "bad.jpg")
	if err := os.WriteFile(bad, []byte("\xff\xd8\xff\xe0 not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := tool.Run(context.Background(), corpus.Image{Path: bad, Name: "bad.jpg", Format: outcome.JPEG}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if out.Decision != outcome.Failed || out.Output != "" || out.Reason == "" {
		t.Errorf("got decision %q output %q reason %q, want failed with djpeg's message and no output", out.Decision, out.Output, out.Reason)
	}
}

// cjpeg keeps the stored pixel order and drops the EXIF tag: scoring its output
// against the rotated input would compare different images.
func TestSSIMFollowsOrientation(t *testing.T) {
	m := corpustest.Magick(t)
	all := tools.New(tools.Paths{Compress: "/bin/true", Magick: m}, config.Default())
	rotated := image(t, m, "r.jpg", "-quality", "95")
	withOrientation6(t, rotated.Path)
	tool := find(t, all, tools.TurboJPEG)
	out, err := tool.Run(context.Background(), rotated, t.TempDir())
	if err != nil || out.Output == "" {
		t.Fatalf("cjpeg: %v %+v", err, out)
	}
	scorer := &tools.Scorer{Magick: m, Dir: t.TempDir()}
	if ssim, err := scorer.SSIM(context.Background(), rotated.Path, out.Output, false); err != nil || ssim < 0.5 {
		t.Errorf("against the stored pixels: SSIM %v, %v; want a valid high score", ssim, err)
	}
	if _, err := scorer.SSIM(context.Background(), rotated.Path, out.Output, true); err == nil {
		t.Error("against the rotated input (320x200 vs 200x320): got a score, want an error")
	}
}

// withOrientation6 inserts an EXIF segment saying "rotate 90° clockwise to
// display" after the JPEG's SOI marker (magick -orient writes none for an
// image without an EXIF profile).
func withOrientation6(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08" + // big-endian TIFF header, IFD at 8
		"\x00\x01" + // one entry
		"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00" + // Orientation, SHORT, 1, value 6
		"\x00\x00\x00\x00") // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append(append(append([]byte{}, data[:2]...), append(seg, payload...)...), data[2:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
