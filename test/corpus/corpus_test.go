package corpus_test

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus/corpustest"
)

func TestLoadReadsManifestAndSkipsNonImages(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a.jpg":        "\xff\xd8\xff\xe0",
		"b.png":        "\x89PNG\r\n\x1a\n",
		"MANIFEST.tsv": "file\tcategory\tsource\nb.png\tbomb\tx\n",
		"README.md":    "about",
		".hidden":      "x",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// No magick: sizes stay 0, which Load must tolerate (bombs do not identify either).
	images, err := corpus.Load(context.Background(), dir, filepath.Join(dir, "no-magick"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]corpus.Image{}
	for _, im := range images {
		got[im.Name] = im
	}
	if len(got) != 2 {
		t.Fatalf("Load listed %d files (%v), want a.jpg and b.png only", len(got), got)
	}
	if a := got["a.jpg"]; a.Format != outcome.JPEG || a.Category != "" || a.Class() != string(outcome.JPEG) || a.Bytes != 4 {
		t.Errorf("a.jpg = %+v, want format jpeg, no category, class jpeg, 4 bytes", a)
	}
	if b := got["b.png"]; b.Format != outcome.PNG || b.Category != corpus.Bomb || b.Class() != corpus.Bomb {
		t.Errorf("b.png = %+v, want format png in the bomb class from MANIFEST.tsv", b)
	}
}

func TestLoadRefusesAnEmptyDirectory(t *testing.T) {
	if _, err := corpus.Load(context.Background(), t.TempDir(), "magick"); err == nil {
		t.Error("Load of an empty directory: got no error, want one")
	}
}

func TestMegapixelsCountsFrames(t *testing.T) {
	im := corpus.Image{Width: 1000, Height: 500, Frames: 4}
	if got := im.Megapixels(); got != 2 {
		t.Errorf("1000x500 × 4 frames = %v MP, want 2", got)
	}
}

// The generated bomb must declare its size in a header a decoder accepts,
// or it would test nothing.
func TestGeneratedBombDeclaresHugeSize(t *testing.T) {
	images := corpustest.Generated(t, corpustest.Magick(t))
	classes := map[string]int{}
	for _, im := range images {
		classes[im.Class()]++
	}
	for _, want := range []string{string(outcome.JPEG), string(outcome.PNG), string(outcome.WebP), string(outcome.GIF), corpus.Malformed, corpus.Bomb} {
		if classes[want] == 0 {
			t.Errorf("generated corpus has classes %v, want at least one %s", classes, want)
		}
	}
	i := slices.IndexFunc(images, func(im corpus.Image) bool { return im.Category == corpus.Bomb })
	data := corpustest.Read(t, images[i])
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width != 65535 || cfg.Height != 65535 {
		t.Errorf("bomb header: %dx%d, %v; want a valid 65535x65535 PNG header", cfg.Width, cfg.Height, err)
	}
	if len(data) > 64<<10 {
		t.Errorf("bomb is %d bytes, want a small file", len(data))
	}
}
