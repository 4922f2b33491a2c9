// Package inproc benchmarks the pipeline package in this process, as a warm
// Lambda runs it: no process start, ImageMagick already initialised. It is a
// Go benchmark (testing.Benchmark) driven by the harness, so its figures land
// in the same report as the command-line runs.
package inproc

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
)

// MemoryBytes is the memory size the pipeline is initialised for: the
// Lambda's 256 MB, so limits derived from it match production.
const MemoryBytes = 256 << 20

// Result is one benchmark of Process on one image.
type Result struct {
	Image       string
	NsPerOp     int64
	AllocBytes  int64 // Go heap per op; ImageMagick's C allocations are not counted
	Allocs      int64
	Decision    outcome.Decision
	BytesOut    int
	Err         string // a retryable error from Process
	Megapixels  float64
	InputFormat outcome.Format
}

var setup = sync.OnceValue(func() error {
	testing.Init() // registers -test.benchtime outside `go test`
	return pipeline.Initialize(MemoryBytes)
})

// Run benchmarks Process once on each image: one iteration per call, the
// harness repeats rounds itself and takes medians.
func Run(ctx context.Context, images []corpus.Image, s config.Settings) ([]Result, error) {
	if err := setup(); err != nil {
		return nil, fmt.Errorf("inproc: %w", err)
	}
	// Restored afterwards: inside a test binary, -bench runs must keep theirs.
	benchtime := flag.Lookup("test.benchtime").Value.String()
	if err := flag.Set("test.benchtime", "1x"); err != nil {
		return nil, fmt.Errorf("inproc: %w", err)
	}
	defer func() { _ = flag.Set("test.benchtime", benchtime) }()
	results := make([]Result, 0, len(images))
	for _, im := range images {
		data, err := os.ReadFile(im.Path)
		if err != nil {
			return nil, fmt.Errorf("inproc: %w", err)
		}
		r := Result{Image: im.Name, Megapixels: im.Megapixels(), InputFormat: im.Format}
		var res []pipeline.Result
		var perr error
		bench := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, perr = pipeline.Process(ctx, data, s)
			}
		})
		r.NsPerOp, r.AllocBytes, r.Allocs = bench.NsPerOp(), bench.AllocedBytesPerOp(), bench.AllocsPerOp()
		if len(res) > 0 { // the harness's settings have one output
			r.Decision, r.BytesOut = res[0].Decision, res[0].BytesOut
		}
		if perr != nil {
			r.Err = perr.Error()
		}
		results = append(results, r)
	}
	return results, nil
}
