package inproc_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/inproc"
)

func generated(tb testing.TB) []corpus.Image {
	tb.Helper()
	prefix := os.Getenv("MAGICK_PREFIX")
	if prefix == "" {
		tb.Skip("MAGICK_PREFIX not set (make exports it): cannot generate images")
	}
	images, err := corpus.Generate(context.Background(), tb.TempDir(), filepath.Join(prefix, "bin", "magick"))
	if err != nil {
		tb.Fatal(err)
	}
	return images
}

func TestRunBenchmarksEveryImageOnce(t *testing.T) {
	images := generated(t)
	results, err := inproc.Run(context.Background(), images, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(images) {
		t.Fatalf("got %d results for %d images", len(results), len(images))
	}
	for i, r := range results {
		im := images[i]
		if r.Image != im.Name || r.Err != "" || r.NsPerOp <= 0 {
			t.Errorf("%s: got %+v, want a timed run without error", im.Name, r)
		}
		want := outcome.Compressed
		if im.Category == corpus.Bomb || im.Category == corpus.Malformed {
			want = outcome.Rejected
		}
		if r.Decision != want && !(want == outcome.Compressed && r.Decision == outcome.KeptOriginal) {
			t.Errorf("%s: decision %q, want %q", im.Name, r.Decision, want)
		}
	}
}

// BenchmarkProcess is the same measurement for `go test -bench`: the corpus
// (IMAGES, default ../shared/corpus) or generated images, one sub-benchmark each.
func BenchmarkProcess(b *testing.B) {
	dir := os.Getenv("IMAGES")
	if dir == "" {
		dir = "../../../../shared/corpus"
	}
	var images []corpus.Image
	var err error
	if _, statErr := os.Stat(dir); statErr == nil && os.Getenv("MAGICK_PREFIX") != "" {
		images, err = corpus.Load(context.Background(), dir, filepath.Join(os.Getenv("MAGICK_PREFIX"), "bin", "magick"))
	} else {
		b.Logf("%s not found: benchmarking generated images", dir)
		images = generated(b)
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := pipeline.Initialize(inproc.MemoryBytes); err != nil {
		b.Fatal(err)
	}
	s := config.Default()
	for _, im := range images {
		data, err := os.ReadFile(im.Path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(im.Name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := pipeline.Process(context.Background(), data, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
