package pipeline_test

import (
	"bytes"
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

// quantTables returns a JPEG's quantization tables by table number, read
// from its DQT segments. Quality cannot be read back as a number: jpegli
// scales its own tables, not libjpeg's, so ImageMagick's estimate of the
// quality from the tables is meaningless for its files.
func quantTables(t testing.TB, jpeg []byte) map[byte][]byte {
	t.Helper()
	tables := map[byte][]byte{}
	for i := 2; i+4 <= len(jpeg) && jpeg[i] == 0xFF; {
		marker, n := jpeg[i+1], int(jpeg[i+2])<<8|int(jpeg[i+3])
		if marker == 0xDA || i+2+n > len(jpeg) {
			break
		}
		if marker == 0xDB {
			for seg := jpeg[i+4 : i+2+n]; len(seg) > 0; {
				size := 1 + 64*(1+int(seg[0]>>4))
				if size > len(seg) {
					t.Fatalf("a DQT segment of %d bytes holds a table of %d", len(seg), size)
				}
				tables[seg[0]&0x0F] = seg[1:size]
				seg = seg[size:]
			}
		}
		i += 2 + n
	}
	if len(tables) == 0 {
		t.Fatal("no quantization tables before the first scan")
	}
	return tables
}

// checkQuality fails unless out's quantization tables are those the linked
// encoder writes for quality with out's own chroma subsampling: the quality
// setting reached the encoder.
func checkQuality(t testing.TB, out []byte, quality uint) {
	t.Helper()
	mw := readBack(t, out)
	factors := mw.GetImageProperty("jpeg:sampling-factor")
	ref := imagick.NewMagickWand()
	defer ref.Destroy()
	if err := ref.ReadImageBlob(out); err != nil {
		t.Fatal(err)
	}
	if err := ref.SetImageCompressionQuality(quality); err != nil {
		t.Fatal(err)
	}
	if err := ref.SetOption("jpeg:sampling-factor", factors); err != nil {
		t.Fatal(err)
	}
	encoded, err := ref.GetImageBlob()
	if err != nil {
		t.Fatal(err)
	}
	want := quantTables(t, encoded)
	got := quantTables(t, out)
	for n, table := range want {
		if !bytes.Equal(got[n], table) {
			t.Errorf("quantization table %d differs from the encoder's at quality %d (sampling %s):\n got %v\nwant %v", n, quality, factors, got[n], table)
		}
	}
}

// corpusPresent says whether the shared corpus is there, for tests that add
// corpus files to their generated cases.
func corpusPresent() bool {
	_, ok := fixture.CorpusDir()
	return ok
}
