package report

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/coldstart"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/tools"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
)

// The goals the report holds the pipeline to, by what users choose an image
// pipeline for: JPEG speed near libjpeg-turbo's, fewer bytes at equal
// SSIMULACRA2 than the naive ImageMagick CLI and optipng (power.go), a photo
// within 256 MB, bombs rejected unread, a fast cold start.
const (
	jpegSpeedLimit   = 1.3 // ours CPU per megapixel / libjpeg-turbo's
	photoRSSLimit    = 180 << 20
	bombRSSHeadroom  = 16 << 20 // over the smallest image's peak: no image-sized allocation
	coldStartLimitMs = 100.0
)

// Target is one goal checked against the figures.
type Target struct {
	Name     string
	Goal     string
	Measured string
	Pass     bool
	Checked  bool   // false when nothing in the run could check it
	By       string // how far from the goal: the margin when passed, the shortfall when missed
}

func mib(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

// Targets checks the goals against r.
func Targets(r *Results) []Target { return checkTargets(r, buildTable(r)) }

func checkTargets(r *Results, t table) []Target {
	var out []Target
	add := func(tg Target) { out = append(out, tg) }

	// The JPEG targets are about photos; tiny JPEGs (a 100x100 CMYK test
	// image) are in the pair table but would only measure process start.
	js := summarisePairs(large(t.pairs(tools.TurboJPEG, string(outcome.JPEG))))
	speed := Target{Name: "JPEG speed", Goal: fmt.Sprintf("CPU ms/MP ≤ %.1f× libjpeg-turbo's djpeg|cjpeg", jpegSpeedLimit)}
	if js.NLarge > 0 {
		ratio := js.OursCPUPerMP / js.RefCPUPerMP
		speed.Checked = true
		speed.Pass = ratio <= jpegSpeedLimit
		speed.Measured = fmt.Sprintf("%.2f× (%.0f vs %.0f CPU ms/MP over %s ≥ %.1f MP; wall %.2f×)",
			ratio, js.OursCPUPerMP, js.RefCPUPerMP, plural(js.NLarge, "JPEG"), minPerMPMegapixels, js.OursWallPerMP/js.RefWallPerMP)
		speed.By = margin(ratio, jpegSpeedLimit, "×")
	}
	add(speed)

	pngCells := t.cells(tools.Ours, string(outcome.PNG))
	bigger := Target{Name: "PNG never bigger", Goal: "ours output ≤ input for every PNG"}
	var worse []string
	n := 0
	for _, c := range pngCells {
		if c.ok() {
			n++
			if c.OutBytes > c.Image.Bytes {
				worse = append(worse, fmt.Sprintf("%s +%d B", c.Image.Name, c.OutBytes-c.Image.Bytes))
			}
		}
	}
	if n > 0 {
		bigger.Checked = true
		bigger.Pass = len(worse) == 0
		bigger.Measured = fmt.Sprintf("%d of %d outputs bigger", len(worse), n)
		bigger.By = "none bigger"
		if len(worse) > 0 {
			bigger.By = fmt.Sprintf("%v", worse[:min(len(worse), 5)])
		}
	}
	add(bigger)

	po := summarisePairs(t.pairs(tools.OptiPNG, string(outcome.PNG)))
	out = append(out, powerTargets(r, t)...)
	pl := summarisePairs(large(t.pairs(tools.OptiPNG, string(outcome.PNG))))
	pngSpeed := Target{Name: "PNG speed", Goal: "faster than optipng -o2 (CPU ms/MP)"}
	if pl.NLarge > 0 {
		ratio := pl.OursCPUPerMP / pl.RefCPUPerMP
		pngSpeed.Checked = true
		pngSpeed.Pass = ratio < 1
		pngSpeed.Measured = fmt.Sprintf("%.2f× (%.0f vs %.0f CPU ms/MP over %s ≥ %.1f MP; all %s: %.2f× in total, median per image %.2f×)",
			ratio, pl.OursCPUPerMP, pl.RefCPUPerMP, plural(pl.NLarge, "PNG"), minPerMPMegapixels, plural(po.N, "PNG"), po.CPURatioSum, po.CPURatioMed)
		pngSpeed.By = margin(ratio, 1, "×")
	}
	add(pngSpeed)
	rss := Target{Name: "Peak RSS, largest photo", Goal: "≤ " + mib(photoRSSLimit) + " (the Lambda has 256 MB)"}
	if c := largestPhoto(t); c != nil {
		rss.Checked = true
		peak := c.MaxRSS
		rss.Measured = fmt.Sprintf("%s (%dx%d, %.1f MP): compress CLI %s", c.Image.Name, c.Image.Width, c.Image.Height, c.Image.Megapixels(), mib(float64(c.MaxRSS)))
		if fn := photoRSS(r.Cold); fn > 0 {
			peak = max(peak, fn)
			rss.Measured += fmt.Sprintf(", bootstrap under the emulator (256 MB limits) %s", mib(float64(fn)))
		}
		rss.Pass = peak <= photoRSSLimit
		rss.By = margin(float64(peak)/(1<<20), photoRSSLimit/(1<<20), "MiB")
	}
	add(rss)

	bomb := Target{Name: "Pixel bombs", Goal: "rejected before any large allocation (peak RSS ≤ smallest image's + " + mib(bombRSSHeadroom) + ")"}
	if bombs, base := t.cells(tools.Ours, corpus.Bomb), smallestImage(t); len(bombs) > 0 && base != nil {
		bomb.Checked = true
		bomb.Pass = true
		var worst int64
		var bad []string
		for _, c := range bombs {
			worst = max(worst, c.MaxRSS)
			if c.Decision != outcome.Rejected || c.MaxRSS > base.MaxRSS+bombRSSHeadroom {
				bomb.Pass = false
				bad = append(bad, fmt.Sprintf("%s: %s, %s", c.Image.Name, c.Decision, mib(float64(c.MaxRSS))))
			}
		}
		bomb.Measured = fmt.Sprintf("%s, peak RSS at most %s (smallest image %s: %s)", plural(len(bombs), "bomb"), mib(float64(worst)), base.Image.Name, mib(float64(base.MaxRSS)))
		bomb.By = margin(float64(worst)/(1<<20), float64(base.MaxRSS+bombRSSHeadroom)/(1<<20), "MiB")
		if len(bad) > 0 {
			bomb.By = fmt.Sprintf("%v", bad)
		}
	}
	add(bomb)

	cold := Target{Name: "Cold start", Goal: fmt.Sprintf("< %.0f ms to the first answer, no image work", coldStartLimitMs)}
	if first := coldFirst(r.Cold, coldstart.Skipped); len(first) > 0 {
		med := Median(first)
		cold.Checked = true
		cold.Pass = med < coldStartLimitMs
		cold.Measured = fmt.Sprintf("median %.0f ms over %s (max %.0f ms)", med, plural(len(first), "cold start"), slices.Max(first))
		cold.By = margin(med, coldStartLimitMs, "ms")
	}
	add(cold)
	return out
}

// margin says how far value is from limit, for a goal of value ≤ limit.
func margin(value, limit float64, unit string) string {
	if math.IsNaN(value) {
		return "not measurable"
	}
	pct := (value/limit - 1) * 100
	if value <= limit {
		return fmt.Sprintf("passes by %.1f%%", -pct)
	}
	return fmt.Sprintf("misses by %.1f%% (%.3g vs %.3g %s)", pct, value, limit, unit)
}

// largestPhoto is ours' cell for the valid image with the most pixels.
func largestPhoto(t table) *cell {
	var best *cell
	for _, c := range t.cells(tools.Ours, "") {
		if best == nil || c.Image.Megapixels() > best.Image.Megapixels() {
			best = c
		}
	}
	return best
}

// smallestImage is ours' cell for the valid image with the fewest pixels
// that it compressed or kept: the process's floor.
func smallestImage(t table) *cell {
	var best *cell
	for _, c := range t.cells(tools.Ours, "") {
		if c.ok() && c.Image.Megapixels() > 0 && (best == nil || c.Image.Megapixels() < best.Image.Megapixels()) {
			best = c
		}
	}
	return best
}

// photoRSS is the bootstrap's largest peak RSS on the largest photo.
func photoRSS(samples []coldstart.Sample) int64 {
	var peak int64
	for _, s := range samples {
		if s.Event == coldstart.Photo {
			peak = max(peak, s.PeakRSS)
		}
	}
	return peak
}

func coldFirst(samples []coldstart.Sample, event string) []float64 {
	var ms []float64
	for _, s := range samples {
		if s.Event == event {
			ms = append(ms, float64(s.FirstAnswer)/float64(time.Millisecond))
		}
	}
	return ms
}
