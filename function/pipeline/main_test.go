package pipeline_test

import (
	"fmt"
	"os"
	"testing"

	"gopkg.in/gographics/imagick.v3/imagick"

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
