package lambda_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/lambda"
)

// TestAVIFRenditionAt256MB: the slowest output a user is likely to
// configure, a 12 MP photo as an AVIF 1280 px wide, is written at the
// default memory size and its CPU share within the default timeout. The
// log line gives its time, memory and bytes at pipeline.AVIFSpeed.
func TestAVIFRenditionAt256MB(t *testing.T) {
	e := newShaped(t)
	settings := config.Default()
	settings.Outputs = []config.Output{{Format: "avif", MaxWidth: 1280}}
	r := e.run(t, settings, 1, []lambda.Image{{Name: "photo-12mp.jpg", Data: twelveMegapixelPhoto(t, e.root, e.bins.Magick())}})[0]
	t.Logf("AVIF 1280 px of a 12 MP photo at %d MB, %.3f of a core, speed %d: %.1f s, peak RSS %d MB, cgroup peak %d MB, %d bytes",
		e.defaults.MemorySize, lambda.CPU(e.defaults.MemorySize), pipeline.AVIFSpeed, float64(r.Millis)/1000, r.RSSPeak>>20, r.CgroupPeak>>20, r.BytesOut)
	if r.OOMKills > 0 || r.Exited != "" || !r.Decision.Stored() || r.BytesOut == 0 {
		t.Errorf("%s: %s (%s) after %d invocations, %d OOM kills %s; want the AVIF written within the timeout of %d s",
			r.Image, r.Decision, r.Reason, r.Attempts, r.OOMKills, r.Exited, e.defaults.TimeoutSeconds)
	}
}

// twelveMegapixelPhoto is the corpus's 12 MP phone photo, or where the
// corpus is absent a generated 4000x3000 JPEG (said in the test log).
func twelveMegapixelPhoto(t *testing.T, root, magick string) []byte {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(corpus.Dir(root), "exifpy_Xiaomi_Mi_9T_12MP_orient6.jpg")); err == nil {
		return b
	}
	t.Log("corpus absent: a generated 4000x3000 JPEG instead of the 12 MP phone photo")
	path := filepath.Join(t.TempDir(), "photo.jpg")
	if err := corpus.Render(t.Context(), magick, path, "-size", "4000x3000", "-seed", "1", "plasma:fractal", "-quality", "90"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
