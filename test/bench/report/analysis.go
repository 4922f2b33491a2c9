package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/quality"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/tools"
)

// whySection explains each missed target with the run's own figures, and
// notes what the tables alone do not say.
func whySection(d doc, r *Results, t table) {
	d.section("Why: misses and notes")
	missed := 0
	for _, tg := range checkTargets(r, t) {
		if !tg.Checked || tg.Pass {
			continue
		}
		missed++
		switch tg.Name {
		case "JPEG speed":
			whyJPEGSpeed(d, r, t)
		case "JPEG power":
			whyJPEGPower(d, r)
		case "Target agreement":
			whyAgreement(d, r, tg)
		case "Peak RSS, largest photo":
			c := largestPhoto(t)
			bits := quantumBits(r)
			d.p("- **%s**: %s. Decoded into ImageMagick's pixel cache, %dx%d pixels take %s at %d bits per sample (RGB); a JPEG's browser decode (Go's planes), the encoder's buffers, the input and output blobs and the Go runtime come on top, and an EXIF rotation (orientation %s here) needs a second full copy.",
				tg.Name, tg.By, c.Image.Width, c.Image.Height, mib(float64(c.Image.Width*c.Image.Height*3*bits/8)), bits, orientation(c.Image.Orientation))
		default:
			d.p("- **%s**: %s (%s).", tg.Name, tg.By, tg.Measured)
		}
	}
	if missed == 0 {
		d.p("- Every target measured in this run is met.")
	}
	startupNote(d, r, t)
	d.p("")
}

func whyJPEGSpeed(d doc, r *Results, t table) {
	ps := large(t.pairs(tools.TurboJPEG, string(outcome.JPEG)))
	var rotated, upright []pair
	for _, p := range ps {
		if p.ours.Image.Orientation > 1 {
			rotated = append(rotated, p)
		} else {
			upright = append(upright, p)
		}
	}
	var parts []string
	for _, g := range []struct {
		name string
		ps   []pair
	}{{"upright", upright}, {"rotated", rotated}} {
		if len(g.ps) > 0 {
			s := summarisePairs(g.ps)
			parts = append(parts, fmt.Sprintf("%.2f× on the %s", s.OursCPUPerMP/s.RefCPUPerMP, plural(len(g.ps), g.name+" photo")))
		}
	}
	d.p("- **JPEG speed**: ours does more than a decode and an encode: ImageMagick decodes (with the linked libjpeg) into its %d-bit pixel cache, the JPEG is decoded a second time as browsers show it (Go's decoder, whose pixels replace jpegli's smoother ones), the quality search encodes and scores a sample up to four times, jpegli encodes (slower than libjpeg-turbo: floating-point DCT and adaptive quantization), and a photo with an EXIF orientation is rotated into a second copy first. Against libjpeg-turbo's CPU time per megapixel, ours is %s.",
		quantumBits(r), strings.Join(parts, " and "))
	if v, ok := inprocPerMP(r, ps); ok {
		s := summarisePairs(ps)
		d.p("  The pipeline in-process (no process start) needs %.0f ms/MP, %.2f× the floor: starting the CLI is not what makes the gap.", v, v/s.RefCPUPerMP)
	}
}

// whyJPEGPower explains a missed JPEG power target from the curves: what
// each encoder needs at the naive output's own score, per photo.
func whyJPEGPower(d doc, r *Results) {
	rows := photoRows(r)
	var ours, jpegli, naive float64
	n := 0
	for _, row := range rows {
		if math.IsNaN(row.oursAtNaive) || math.IsNaN(row.jpegliAtNai) {
			continue
		}
		ours += row.oursAtNaive
		jpegli += row.jpegliAtNai
		naive += float64(row.naive.Bytes)
		n++
	}
	d.p("- **JPEG power**: at the naive output's own score, photo by photo, ours' curve needs %.3f× its bytes and jpegli's %.3f× (over the %s both curves reach): that is the encoder's gain at equal quality. The rest of the goal has to come from spending fewer points where naive's score is high, and the goal's own bounds (mean score ≥ naive's, none more than %.0f points below) leave little room: naive's scores range over the photos (table below) because ImageMagick 6 keeps each input's chroma subsampling, while one target score lands every photo near the same score.",
		ours/naive, jpegli/naive, plural(n, "photo"), powerBelowLimit)
}

// whyAgreement lists the searched outputs that missed their target.
func whyAgreement(d doc, r *Results, tg Target) {
	var misses []string
	for _, p := range points(r, quality.Agreement, tools.Ours, "") {
		if p.Decision == string(outcome.Compressed) && p.Quality > 0 && math.Abs(p.Score-p.Param) > agreementPoints {
			misses = append(misses, fmt.Sprintf("%s as %s (estimate %.2f, tool %.2f)", p.Image, p.FormatOut, p.Estimate, p.Score))
		}
	}
	d.p("- **%s**: %s. Misses: %s. The search scores a sample of large images (a mosaic of nine 256-pixel cells, aiming 0.9 points above the target for the mosaic's measured optimism); where the whole image scores lower than its cells (large photos whose worst areas fall between them), the output lands below the target, and where one quality step jumps past the target, above it.",
		tg.Name, tg.By, strings.Join(misses, "; "))
}

// inprocPerMP is the in-process pipeline's ms per megapixel over the pairs' images.
func inprocPerMP(r *Results, ps []pair) (float64, bool) {
	ns := map[string][]float64{}
	for _, s := range r.InProc {
		if s.Err == "" {
			ns[s.Image] = append(ns[s.Image], float64(s.NsPerOp)/1e6)
		}
	}
	var ms, mp float64
	for _, p := range ps {
		if v := ns[p.ours.Image.Name]; len(v) > 0 {
			ms += Median(v)
			mp += p.ours.Image.Megapixels()
		}
	}
	return ms / mp, mp > 0
}

// startupNote says what one CLI process costs before any pixel: ours on the
// smallest image it compressed, against the in-process pipeline on it.
func startupNote(d doc, r *Results, t table) {
	c := smallestImage(t)
	if c == nil {
		return
	}
	var ns []float64
	for _, s := range r.InProc {
		if s.Image == c.Image.Name && s.Err == "" {
			ns = append(ns, float64(s.NsPerOp)/1e6)
		}
	}
	inproc := math.NaN()
	if len(ns) > 0 {
		inproc = Median(ns)
	}
	d.p("- Process start: ours needs %.0f ms of CPU for %s (%dx%d), of which the pipeline itself takes %.1f ms in-process; the rest is starting Go and ImageMagick (coder registration, policy) in a new process. It dominates the per-image figures of small images (the PNG test suite, icons) and does not exist in a warm Lambda.",
		c.CPUMs, c.Image.Name, c.Image.Width, c.Image.Height, inproc)
}

// quantumBits is the bits per sample of ours' ImageMagick ("… Q8 …" in its
// version), 16 when the version does not say.
func quantumBits(r *Results) int {
	for _, t := range r.Tools {
		if t.Name != tools.Ours {
			continue
		}
		for _, f := range strings.Fields(t.Version) {
			if n, err := strconv.Atoi(strings.TrimPrefix(f, "Q")); err == nil && strings.HasPrefix(f, "Q") {
				return n
			}
		}
	}
	return 16
}
