package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
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
		case "JPEG size":
			whyJPEGSize(d, r, t)
		case "Peak RSS, largest photo":
			c := largestPhoto(t)
			d.p("- **%s**: %s. Decoded into ImageMagick's pixel cache, %dx%d pixels take %s at 16 bits per sample (RGB); the encoder's buffers, the input and output blobs and the Go runtime come on top, and an EXIF rotation (orientation %s here) needs a second full copy.",
				tg.Name, tg.By, c.Image.Width, c.Image.Height, mib(float64(c.Image.Width*c.Image.Height*3*2)), orientation(c.Image.Orientation))
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
	d.p("- **JPEG speed**: ours decodes and encodes with the same libjpeg-turbo, so the difference is ImageMagick's own work around it: every 8-bit sample goes into a 16-bit pixel cache (a Q16 build) on decode and back on encode, and a photo with an EXIF orientation is rotated into a second copy before encoding. Against libjpeg-turbo's CPU time per megapixel, ours is %s.",
		strings.Join(parts, " and "))
	if v, ok := inprocPerMP(r, ps); ok {
		s := summarisePairs(ps)
		d.p("  The pipeline in-process (no process start) needs %.0f ms/MP, %.2f× the floor: starting the CLI is not what makes the gap.", v, v/s.RefCPUPerMP)
	}
}

func whyJPEGSize(d doc, r *Results, t table) {
	turbo := summarisePairs(large(t.pairs(tools.TurboJPEG, string(outcome.JPEG))))
	naive := summarisePairs(large(t.pairs(tools.NaiveMagic, string(outcome.JPEG))))
	if naive.BytesRatioSum > jpegBytesLimit {
		d.p("- **JPEG size**: ours writes %.1f%% of libjpeg-turbo's own optimised progressive bytes at the same quality: it is at the floor of this encoder. The naive CLI is only %.1f%% bigger than ours, because ImageMagick already optimises Huffman tables by default; the rest is progressive scans and the metadata it keeps. Ten per cent at equal SSIM needs an encoder that beats libjpeg-turbo at equal quality (mozjpeg's trellis quantisation, jpegli); Debian 12 packages neither (its libjxl 0.7 predates jpegli), and a lower quality would lower SSIM, which the target forbids.",
			turbo.BytesRatioSum*100, (1/naive.BytesRatioSum-1)*100)
	}
	if naive.OursSSIMMean < naive.RefSSIMMean {
		d.p("- **JPEG size, SSIM**: ours scores %.4f below the naive CLI on average. ImageMagick's JPEG writer reuses the input's chroma subsampling unless told otherwise, while ours applies the configured %s: from an input stored at 4:4:4 the naive output keeps more chroma, and more bytes.",
			naive.RefSSIMMean-naive.OursSSIMMean, r.Settings.JPEG.Sampling)
	}
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
