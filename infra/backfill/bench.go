package backfill

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Figures are the function's time per image that the estimate uses, read
// from docs/benchmarks.md, which make bench writes: the latency table of the
// Lambda-shaped run (the function's memory as a cgroup limit and Lambda's CPU
// share) where the report has one, else the warm answers of the cold-start
// table (one full core), scaled to Lambda's CPU share.
type Figures struct {
	// Source names the table, for the estimate's basis.
	Source string
	// Lambda-shaped: the median seconds of each size class, at memoryMB.
	classes  []sizeClass
	memoryMB int
	// Warm answers on one core: a tiny image, and the largest photo of photoMP.
	tiny, photo, photoMP float64
}

type sizeClass struct {
	maxMP   float64
	seconds float64
}

// Lambda gives a function memory/1769 MB of one vCPU, up to a whole one.
const lambdaMBPerVCPU = 1769

// bytesPerPixel turns an object's size into megapixels, the benchmark's
// unit: a JPEG photo at quality 85 to 95 holds about 0.3 bytes per pixel
// (an assumption: PNGs hold more, so their time is overestimated).
const bytesPerPixel = 0.3

func cpuShare(memoryMB int) float64 { return math.Min(1, float64(memoryMB)/lambdaMBPerVCPU) }

// Seconds is the function's expected time for one output of an image of
// bytes, at memoryMB.
func (f Figures) Seconds(bytes float64, memoryMB int) float64 {
	mp := bytes / bytesPerPixel / 1e6
	if len(f.classes) > 0 {
		s := f.classes[len(f.classes)-1].seconds
		for _, c := range f.classes {
			if mp < c.maxMP {
				s = c.seconds
				break
			}
		}
		// CPU-bound below a vCPU: more memory, proportionally more CPU.
		return s * cpuShare(f.memoryMB) / cpuShare(memoryMB)
	}
	return (f.tiny + (f.photo-f.tiny)*mp/f.photoMP) / cpuShare(memoryMB)
}

var (
	lambdaHeading = regexp.MustCompile(`^## Latency at (\d+) MB \(Lambda-shaped\)`)
	sizeName      = regexp.MustCompile(`^(?:under (\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)–(\d+(?:\.\d+)?)) MP$`)
	largestPhoto  = regexp.MustCompile(`^\| Peak RSS, largest photo \|.*?\(\d+x\d+, (\d+(?:\.\d+)?) MP\)`)
)

// ParseFigures reads a benchmark report (docs/benchmarks.md).
func ParseFigures(doc []byte) (Figures, error) {
	var f Figures
	var section string
	var warm map[string]float64
	sc := bufio.NewScanner(bytes.NewReader(doc))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			section = line
			if m := lambdaHeading.FindStringSubmatch(line); m != nil {
				f.memoryMB, _ = strconv.Atoi(m[1])
			}
			continue
		}
		if m := largestPhoto.FindStringSubmatch(line); m != nil {
			f.photoMP, _ = strconv.ParseFloat(m[1], 64)
		}
		cells := tableRow(line)
		switch {
		case len(cells) < 3:
		case lambdaHeading.MatchString(section):
			// size | images | p50 | p95 | slowest | peak RSS
			if c, ok := parseSizeClass(cells[0], cells[2]); ok {
				f.classes = append(f.classes, c)
			}
		case section == "## Cold start" && len(cells) >= 5:
			// event | cold starts | first answer | INIT REPORT | warm answer median | ...
			if ms, ok := parseDuration(cells[4]); ok {
				if warm == nil {
					warm = map[string]float64{}
				}
				warm[cells[0]] = ms
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Figures{}, err
	}
	if len(f.classes) > 0 {
		f.Source = fmt.Sprintf("docs/benchmarks.md, latency at %d MB (Lambda-shaped), median per size", f.memoryMB)
		return f, nil
	}
	tiny, okTiny := warm["tiny-image"]
	photo, okPhoto := warm["largest-photo"]
	if !okTiny || !okPhoto || f.photoMP <= 0 {
		return Figures{}, errors.New("neither a Lambda-shaped latency table nor the cold start's warm answers and the largest photo's size")
	}
	f.tiny, f.photo = tiny, photo
	f.Source = fmt.Sprintf("docs/benchmarks.md, cold start: warm answers %.0f ms (tiny image) to %.0f ms (%.1f MP) on a core, at Lambda's CPU share",
		tiny*1000, photo*1000, f.photoMP)
	return f, nil
}

// tableRow splits a Markdown table row into trimmed cells; nil for a line
// that is none, or the header's rule.
func tableRow(line string) []string {
	if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "| ---") {
		return nil
	}
	cells := strings.Split(strings.Trim(line, "|"), "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

func parseSizeClass(name, p50 string) (sizeClass, bool) {
	m := sizeName.FindStringSubmatch(name)
	seconds, ok := parseDuration(p50)
	if m == nil || !ok {
		return sizeClass{}, false
	}
	upper := m[1]
	if upper == "" {
		upper = m[3]
	}
	max, err := strconv.ParseFloat(upper, 64)
	return sizeClass{maxMP: max, seconds: seconds}, err == nil
}

// parseDuration reads "19 ms" or "1.2 s" as seconds.
func parseDuration(s string) (float64, bool) {
	value, unit, ok := strings.Cut(s, " ")
	v, err := strconv.ParseFloat(value, 64)
	if !ok || err != nil {
		return 0, false
	}
	switch unit {
	case "ms":
		return v / 1000, true
	case "s":
		return v, true
	}
	return 0, false
}
