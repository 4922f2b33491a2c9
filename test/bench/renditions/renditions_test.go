package renditions_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/renditions"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus/corpustest"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

func TestRenditionsAgainstReferences(t *testing.T) {
	prefix := corpustest.MagickPrefix(t)
	for _, bin := range []string{"cwebp", "avifenc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found (make packages installs it)", bin)
		}
	}
	dir := t.TempDir()
	compress := filepath.Join(dir, "compress")
	_, file, _, _ := runtime.Caller(0)
	build := exec.Command("go", "build", "-o", compress, "./cmd/compress")
	build.Dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "function")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build compress: %v\n%s", err, out)
	}
	magick := filepath.Join(prefix, "bin", "magick")
	im := corpustest.Image(t, magick, "photo.jpg", "-seed", "3", "-size", "1000x700", "plasma:fractal", "-quality", "95")
	if got := renditions.Photos([]corpus.Image{im, {Name: "small.jpg", Format: outcome.JPEG, Width: 600, Height: 400}}); len(got) != 1 {
		t.Fatalf("Photos = %v, want only the photo wider than %d px", got, renditions.Width)
	}
	avifMissing := local.Binaries{MagickPrefix: prefix}.WritesAVIF(context.Background())
	samples, err := renditions.Run(context.Background(), renditions.Options{
		Compress: compress, Magick: magick, Dir: filepath.Join(dir, "work"), Settings: config.Default(),
		AVIFSpeed: pipeline.AVIFSpeed, AVIFMissing: avifMissing,
	}, []corpus.Image{im})
	if err != nil {
		t.Fatal(err)
	}
	want := map[outcome.Format]string{outcome.JPEG: "", outcome.WebP: renditions.CWebP}
	if avifMissing == nil {
		want[outcome.AVIF] = renditions.AVIFEnc
	} else {
		t.Logf("no AVIF: %v", avifMissing)
	}
	if len(samples) != len(want) {
		t.Fatalf("%d samples %+v, want one per format of %v", len(samples), samples, want)
	}
	for _, s := range samples {
		ref, ok := want[s.Format]
		if !ok || s.Err != "" || s.Reference != ref || s.Pixels != 640*448 || s.OursBytes <= 0 || s.OursSSIM < 0.5 {
			t.Errorf("sample %+v: want %s against %q at 640x448 with a score", s, s.Format, ref)
		}
		if ref != "" && (s.RefBytes <= 0 || s.RefSSIM < s.OursSSIM && s.RefSetting != "-q 100" && s.RefSetting != "cq-level 0") {
			t.Errorf("%s reference: %d bytes at SSIM %.4f (%s), want ours' %.4f reached", s.Format, s.RefBytes, s.RefSSIM, s.RefSetting, s.OursSSIM)
		}
		t.Logf("%s: ours %d B SSIM %.4f; %s %d B SSIM %.4f (%s)", s.Format, s.OursBytes, s.OursSSIM, s.Reference, s.RefBytes, s.RefSSIM, s.RefSetting)
	}
}
