package coldstart_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/coldstart"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus/corpustest"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// The real bootstrap under the real emulator: one cold start per event.
func TestMeasureStartsTheBootstrapColdForEachEvent(t *testing.T) {
	prefix := corpustest.MagickPrefix(t)
	magick := filepath.Join(prefix, "bin", "magick")
	rie, err := local.RIE.Path()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rie); err != nil {
		t.Skipf("aws-lambda-rie not installed (make local installs it): %v", err)
	}
	root, err := local.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	if err := local.BuildBootstrap(context.Background(), root, prefix, bootstrap); err != nil {
		t.Fatal(err)
	}
	tiny := corpustest.Read(t, corpustest.Image(t, magick, "tiny.jpg", "-seed", "1", "-size", "32x24", "plasma:fractal", "-quality", "95"))
	photo := corpustest.Read(t, corpustest.Image(t, magick, "photo.jpg", "-seed", "1", "-size", "2000x1500", "plasma:fractal", "-quality", "98"))
	samples, err := coldstart.Measure(context.Background(), coldstart.Options{
		RIE: rie, Bootstrap: bootstrap, TinyJPEG: tiny, MemoryMB: 256,
		Photo: coldstart.Object{Name: "photo.jpg", Data: photo},
		Dir:   filepath.Join(dir, "run"), Settings: config.Default(),
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]outcome.Decision{coldstart.Skipped: outcome.Skipped, coldstart.Tiny: outcome.Compressed, coldstart.Photo: outcome.Compressed}
	rss := map[string]int64{}
	if len(samples) != len(want) {
		t.Fatalf("got %d samples, want one per event: %+v", len(samples), samples)
	}
	for _, s := range samples {
		if s.Decision != want[s.Event] {
			t.Errorf("%s: decision %q, want %q", s.Event, s.Decision, want[s.Event])
		}
		if s.FirstAnswer <= 0 || s.Warm <= 0 || s.InitDuration <= 0 || s.InitDuration > s.FirstAnswer {
			t.Errorf("%s: first answer %v, init %v, warm %v; want positive times, init within the first answer", s.Event, s.FirstAnswer, s.InitDuration, s.Warm)
		}
		if s.PeakRSS < 1<<20 {
			t.Errorf("%s: bootstrap peak RSS %d bytes, want the size of a running Go program", s.Event, s.PeakRSS)
		}
		rss[s.Event] = s.PeakRSS
	}
	// 3 MP decoded at 16 bits per sample is 17 MiB more than a 32x24 image.
	if rss[coldstart.Photo] < rss[coldstart.Tiny]+10<<20 {
		t.Errorf("peak RSS: photo %d MiB, tiny image %d MiB; want the photo's pixels to show", rss[coldstart.Photo]>>20, rss[coldstart.Tiny]>>20)
	}
}
