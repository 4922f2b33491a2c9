package report_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/coldstart"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/quality"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/report"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/tools"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
)

// results builds a run over one 12 MP JPEG, one PNG, a bomb and a tiny PNG,
// with the given figures for ours; the references' figures are fixed.
func results(oursJPEGCPU float64, oursJPEGBytes int64, oursPNGBytes int64, bombRSS int64, coldMs int) *report.Results {
	images := []corpus.Image{
		{Name: "photo.jpg", Format: outcome.JPEG, Bytes: 4_000_000, Width: 4000, Height: 3000, Frames: 1},
		{Name: "shot.png", Format: outcome.PNG, Bytes: 600_000, Width: 768, Height: 512, Frames: 1},
		{Name: "dot.png", Format: outcome.PNG, Bytes: 200, Width: 8, Height: 8, Frames: 1},
		{Name: "bomb.png", Format: outcome.PNG, Category: corpus.Bomb, Bytes: 300, Width: 65535, Height: 65535, Frames: 1},
	}
	r := &report.Results{Date: time.Unix(0, 0), Command: "make bench", Runs: 1, Settings: config.Default(), Images: images,
		Tools: []report.Tool{{Name: tools.Ours}, {Name: tools.TurboJPEG}, {Name: tools.NaiveMagic}, {Name: tools.OptiPNG}}}
	add := func(tool, image string, cpu float64, rss, out int64, decision outcome.Decision) {
		r.Samples = append(r.Samples, report.Sample{Tool: tool, Image: image, Round: 1, WallMs: cpu, CPUMs: cpu, MaxRSS: rss, OutBytes: out, Decision: decision})
	}
	add(tools.Ours, "photo.jpg", oursJPEGCPU, 150<<20, oursJPEGBytes, outcome.Compressed)
	add(tools.TurboJPEG, "photo.jpg", 1000, 40<<20, 1_000_000, outcome.Compressed)
	add(tools.NaiveMagic, "photo.jpg", 2000, 200<<20, 1_200_000, outcome.Compressed)
	add(tools.Ours, "shot.png", 300, 60<<20, oursPNGBytes, outcome.Compressed)
	add(tools.OptiPNG, "shot.png", 900, 30<<20, 500_000, outcome.Compressed)
	add(tools.Ours, "dot.png", 20, 20<<20, 150, outcome.Compressed)
	add(tools.Ours, "bomb.png", 20, bombRSS, 0, outcome.Rejected)
	r.Scores = []report.Score{{Tool: tools.Ours, Image: "photo.jpg", SSIM: 0.95}, {Tool: tools.NaiveMagic, Image: "photo.jpg", SSIM: 0.949},
		{Tool: tools.TurboJPEG, Image: "photo.jpg", SSIM: 0.95}}
	r.Cold = []coldstart.Sample{{Event: coldstart.Skipped, FirstAnswer: time.Duration(coldMs) * time.Millisecond, PeakRSS: 25 << 20, Decision: outcome.Skipped}}
	power(r, 850_000, 81, 80.5, 1100)
	return r
}

// power sets the compression power study's figures: ours on the photo at its
// settings (bytes, SSIMULACRA2), a searched output's tool score for target
// 80, and the searched encode's CPU against a fixed one's 1000 ms.
func power(r *report.Results, oursBytes int64, oursScore, searchedScore, searchedCPU float64) {
	c := func(tool string, param float64, bytes int64, score float64) quality.Point {
		return quality.Point{Study: quality.Curve, Tool: tool, Image: "photo.jpg", Param: param, InBytes: 4_000_000, Bytes: bytes, Score: score, Decision: "compressed"}
	}
	r.Power = []quality.Point{
		c(tools.Ours, 0, oursBytes, oursScore), c(tools.Ours, 75, 700_000, 76), c(tools.Ours, 85, 1_000_000, 85),
		c(quality.NaiveIM6, 80, 1_200_000, 80), c(quality.NaiveIM6, 90, 1_800_000, 86),
		{Study: quality.Agreement, Tool: tools.Ours, Image: "photo.jpg", Param: 80, Bytes: 900_000, Score: searchedScore, Quality: 85, Decision: "compressed"},
		{Study: quality.Cost, Tool: quality.OursFixed, Image: "photo.jpg", CPUMs: 1000, Bytes: 1},
		{Study: quality.Cost, Tool: tools.Ours, Image: "photo.jpg", CPUMs: searchedCPU, Bytes: 1},
	}
}

func verdicts(r *report.Results) map[string]bool {
	v := map[string]bool{}
	for _, tg := range report.Targets(r) {
		if tg.Checked {
			v[tg.Name] = tg.Pass
		}
	}
	return v
}

func TestTargets(t *testing.T) {
	pass := verdicts(results(1200, 1_000_000, 480_000, 21<<20, 40))
	for _, name := range []string{"JPEG speed", "JPEG power", "Target agreement", "Search cost", "PNG never bigger", "PNG lossless", "PNG speed", "Peak RSS, largest photo", "Pixel bombs", "Cold start"} {
		if !pass[name] {
			t.Errorf("target %q: got miss (or not checked) on figures that meet it; verdicts %v", name, pass)
		}
	}
	tests := []struct {
		name   string
		r      *report.Results
		target string
	}{
		{"ours 1.4x libjpeg-turbo's CPU", results(1400, 1_000_000, 480_000, 21<<20, 40), "JPEG speed"},
		{"ours 0.83x naive's bytes", withPower(1_000_000, 81, 80.5, 1100), "JPEG power"},
		{"ours 4 points below naive", withPower(850_000, 76, 80.5, 1100), "JPEG power"},
		{"searched output 2.5 below its target", withPower(850_000, 81, 77.5, 1100), "Target agreement"},
		{"search 2.3x a fixed encode", withPower(850_000, 81, 80.5, 2300), "Search cost"},
		{"PNG output bigger than input", results(1200, 1_000_000, 700_000, 21<<20, 40), "PNG never bigger"},
		{"PNG 6% over optipng", results(1200, 1_000_000, 530_000, 21<<20, 40), "PNG lossless"},
		{"bomb allocates 100 MiB", results(1200, 1_000_000, 480_000, 120<<20, 40), "Pixel bombs"},
		{"cold start 150 ms", results(1200, 1_000_000, 480_000, 21<<20, 150), "Cold start"},
	}
	for _, tc := range tests {
		if v := verdicts(tc.r); v[tc.target] {
			t.Errorf("%s: target %q passes, want a miss", tc.name, tc.target)
		}
	}
}

func withPower(oursBytes int64, oursScore, searchedScore, searchedCPU float64) *report.Results {
	r := results(1200, 1_000_000, 480_000, 21<<20, 40)
	power(r, oursBytes, oursScore, searchedScore, searchedCPU)
	return r
}

// The function's own peak on the largest photo counts, not only the CLI's.
func TestBootstrapRSSOnTheLargestPhotoCounts(t *testing.T) {
	r := results(1200, 1_000_000, 480_000, 21<<20, 40)
	r.Cold = append(r.Cold, coldstart.Sample{Event: coldstart.Photo, PeakRSS: 200 << 20, Decision: outcome.Compressed})
	if verdicts(r)["Peak RSS, largest photo"] {
		t.Error("bootstrap at 200 MiB on the largest photo: RSS target passes, want a miss")
	}
}

func TestTargetMissSaysByHowMuch(t *testing.T) {
	for _, tg := range report.Targets(results(1400, 1_000_000, 480_000, 21<<20, 40)) {
		if tg.Name == "JPEG speed" && !strings.Contains(tg.By, "misses by 7.7%") {
			t.Errorf("JPEG speed at 1.4x against 1.3x: By = %q, want it to say it misses by 7.7%%", tg.By)
		}
	}
}

func TestWriteReportAndCharts(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "benchmarks.md")
	if err := report.Write(doc, results(1400, 1_000_000, 480_000, 21<<20, 40)); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# Benchmarks", "| JPEG speed |", "**MISS**", "## Cold start", report.SizeQualityChart, report.SpeedChart, "make bench"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, chart := range []string{report.SizeQualityChart, report.SpeedChart} {
		data, err := os.ReadFile(filepath.Join(dir, chart))
		if err != nil || !strings.HasPrefix(string(data), "\x89PNG") {
			t.Errorf("chart %s: %v; want a PNG file", chart, err)
		}
	}
}
