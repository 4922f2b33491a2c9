package coldstart_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/coldstart"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// The real bootstrap under the real emulator: one cold start per event.
func TestMeasureStartsTheBootstrapColdForEachEvent(t *testing.T) {
	prefix := os.Getenv("MAGICK_PREFIX")
	if prefix == "" {
		t.Skip("MAGICK_PREFIX not set (make exports it): cannot build the bootstrap")
	}
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
	var tiny bytes.Buffer
	if err := jpeg.Encode(&tiny, image.NewRGBA(image.Rect(0, 0, 32, 24)), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	var photo bytes.Buffer
	noise := image.NewGray(image.Rect(0, 0, 2000, 1500))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(i * 7919 >> 3)
	}
	if err := jpeg.Encode(&photo, noise, &jpeg.Options{Quality: 98}); err != nil {
		t.Fatal(err)
	}
	samples, err := coldstart.Measure(context.Background(), coldstart.Options{
		RIE: rie, Bootstrap: bootstrap, TinyJPEG: tiny.Bytes(), MemoryMB: 256,
		Photo: coldstart.Object{Name: "photo.jpg", Data: photo.Bytes()},
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
