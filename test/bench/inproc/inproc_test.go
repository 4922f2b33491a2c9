package inproc_test

import (
	"context"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/inproc"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus/corpustest"
)

func TestRunBenchmarksEveryImageOnce(t *testing.T) {
	images := corpustest.Generated(t, corpustest.Magick(t))
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

// BenchmarkProcess is the same measurement for `go test -bench`: the shared
// corpus or generated images, one sub-benchmark each.
func BenchmarkProcess(b *testing.B) {
	images, _ := corpustest.Images(b, corpustest.Magick(b))
	if err := pipeline.Initialize(inproc.MemoryBytes); err != nil {
		b.Fatal(err)
	}
	s := config.Default()
	for _, im := range images {
		data := corpustest.Read(b, im)
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
