package report_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/renditions"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/report"
)

func TestRenditionsSection(t *testing.T) {
	r := results(1200, 1_000_000, 480_000, 21<<20, 40)
	px := 640 * 480
	r.Renditions = []renditions.Sample{
		{Image: "photo.jpg", Format: outcome.JPEG, Pixels: px, OursBytes: 61_440, OursSSIM: 0.95},
		{Image: "photo.jpg", Format: outcome.WebP, Pixels: px, OursBytes: 40_960, OursSSIM: 0.94, Reference: renditions.CWebP, RefBytes: 51_200, RefSSIM: 0.941, RefSetting: "-q 84"},
		{Image: "photo.jpg", Format: outcome.AVIF, Pixels: px, OursBytes: 30_720, OursSSIM: 0.93, Reference: renditions.AVIFEnc, RefBytes: 30_720, RefSSIM: 0.93, RefSetting: "cq-level 30"},
		{Image: "other.jpg", Format: outcome.AVIF, Err: "avifenc: exit status 1"},
	}
	r.RenditionsNote = "References: cwebp 1.2.4, avifenc 0.11.1."
	doc := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := report.Write(doc, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		"## Renditions: WebP and AVIF 640 px wide against cwebp and avifenc",
		"> References: cwebp 1.2.4, avifenc 0.11.1.",
		"| webp | cwebp | 1 | 0.133 | 0.167 | 0.80× (0.80×) | 0.9400 |", // 40960/307200, 51200/307200
		"| avif | avifenc | 1 | 0.100 | 0.100 | 1.00× (1.00×) | 0.9300 |",
		"| jpeg | – | 1 | 0.200 | – | – | 0.9500 |",
		"| other.jpg | avif | – | – | – | – | – | failed: avifenc: exit status 1 |",
		"](" + report.RenditionsChart + ")",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if st, err := os.Stat(filepath.Join(filepath.Dir(doc), report.RenditionsChart)); err != nil || st.Size() == 0 {
		t.Errorf("chart %s: %v", report.RenditionsChart, err)
	}
}
