package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

// testMemory stands in for the Lambda's memory size.
const testMemory = 512 << 20

func TestMain(m *testing.M) {
	if err := pipeline.Initialize(testMemory); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	pipeline.Terminate()
	os.Exit(code)
}

// processOne runs Process with settings of one output and returns that
// output's result (or the rejection).
func processOne(t testing.TB, ctx context.Context, in []byte, s config.Settings) (pipeline.Result, error) {
	t.Helper()
	rs, err := pipeline.Process(ctx, in, s)
	if err != nil {
		return pipeline.Result{}, err
	}
	if len(rs) != 1 {
		t.Fatalf("Process made %d results for one output", len(rs))
	}
	return rs[0], nil
}

// only makes o the one output of the settings.
func only(o config.Output) func(*config.Settings) {
	return func(s *config.Settings) { s.Outputs = []config.Output{o} }
}

// readBack decodes an output with ImageMagick, as a consumer would.
func readBack(t testing.TB, data []byte) *imagick.MagickWand {
	t.Helper()
	mw := imagick.NewMagickWand()
	t.Cleanup(mw.Destroy)
	if err := mw.ReadImageBlob(data); err != nil {
		t.Fatalf("output does not decode: %v", err)
	}
	return mw
}

// corpusPresent says whether the shared corpus is there, for tests that add
// corpus files to their generated cases.
func corpusPresent() bool {
	_, ok := fixture.CorpusDir()
	return ok
}
