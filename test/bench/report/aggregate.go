package report

import (
	"math"
	"slices"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/tools"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
)

// minPerMPMegapixels: below this size a process's start-up dominates its
// time, so per-megapixel figures would measure start-up, not compression.
const minPerMPMegapixels = 0.1

// cell is one tool on one image over all rounds: medians of times, the
// largest peak RSS (a peak is what must fit), and the last output.
type cell struct {
	Image          corpus.Image
	WallMs, CPUMs  float64
	PipelineMillis float64
	MaxRSS         int64
	OutBytes       int64
	Decision       outcome.Decision
	Reason         string
	FormatOut      outcome.Format
	Err            string
	SSIM           float64 // NaN when not scored
	SSIMErr        string
	S2             float64 // SSIMULACRA2, NaN when not scored
}

// ok says the tool produced an output.
func (c *cell) ok() bool { return c.Err == "" && c.OutBytes > 0 }

func (c *cell) perMP(ms float64) (float64, bool) {
	mp := c.Image.Megapixels()
	if mp < minPerMPMegapixels || !c.ok() {
		return 0, false
	}
	return ms / mp, true
}

// table is every cell, by tool and image name.
type table map[string]map[string]*cell

func buildTable(r *Results) table {
	images := map[string]corpus.Image{}
	for _, im := range r.Images {
		images[im.Name] = im
	}
	type acc struct {
		wall, cpu, pipe []float64
		last            Sample
		rss             int64
	}
	accs := map[[2]string]*acc{}
	for _, s := range r.Samples {
		k := [2]string{s.Tool, s.Image}
		a := accs[k]
		if a == nil {
			a = &acc{}
			accs[k] = a
		}
		a.wall, a.cpu, a.pipe = append(a.wall, s.WallMs), append(a.cpu, s.CPUMs), append(a.pipe, s.PipelineMillis)
		a.rss = max(a.rss, s.MaxRSS)
		if s.Round >= a.last.Round {
			a.last = s
		}
	}
	t := table{}
	for k, a := range accs {
		if t[k[0]] == nil {
			t[k[0]] = map[string]*cell{}
		}
		t[k[0]][k[1]] = &cell{
			Image: images[k[1]], WallMs: Median(a.wall), CPUMs: Median(a.cpu), PipelineMillis: Median(a.pipe),
			MaxRSS: a.rss, OutBytes: a.last.OutBytes, Decision: a.last.Decision, Reason: a.last.Reason,
			FormatOut: a.last.FormatOut, Err: a.last.Err, SSIM: math.NaN(), S2: math.NaN(),
		}
	}
	for _, sc := range r.Scores {
		if c := t[sc.Tool][sc.Image]; c != nil {
			c.SSIM, c.SSIMErr = sc.SSIM, sc.Err
			if sc.Err != "" {
				c.SSIM = math.NaN()
			}
			if sc.S2Err == "" {
				c.S2 = sc.S2
			}
		}
	}
	return t
}

// cells returns a tool's cells for the images of one class ("" = every
// image that is neither malformed nor a bomb), sorted by image name.
func (t table) cells(tool, class string) []*cell {
	var out []*cell
	for _, c := range t[tool] {
		cl := c.Image.Class()
		if cl == class || (class == "" && cl != corpus.Malformed && cl != corpus.Bomb) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *cell) int {
		if a.Image.Name < b.Image.Name {
			return -1
		}
		if a.Image.Name > b.Image.Name {
			return 1
		}
		return 0
	})
	return out
}

// pair is ours and one reference on the same image, both with an output.
type pair struct{ ours, ref *cell }

func (t table) pairs(ref, class string) []pair {
	var out []pair
	for _, r := range t.cells(ref, class) {
		if o := t[tools.Ours][r.Image.Name]; o != nil && o.ok() && r.ok() {
			out = append(out, pair{o, r})
		}
	}
	return out
}

// large keeps the pairs of images of at least minPerMPMegapixels: photos,
// not icons and test patterns whose cost is process start.
func large(ps []pair) []pair {
	var out []pair
	for _, p := range ps {
		if p.ours.Image.Megapixels() >= minPerMPMegapixels {
			out = append(out, p)
		}
	}
	return out
}

// summary is a group of cells reduced to the report's columns.
type summary struct {
	N, NOK                     int
	WallMed, WallP95           float64
	CPUMed, CPUP95             float64
	WallPerMPMed, WallPerMPP95 float64
	CPUPerMPMed, CPUPerMPP95   float64
	NPerMP                     int
	BytesIn, BytesOut          int64
	RatioMed                   float64 // per-image output/input, median
	SSIMMed, SSIMMin           float64
	NSSIM                      int
	RSSMed                     float64
	RSSMax                     int64
}

func summarise(cells []*cell) summary {
	s := summary{N: len(cells)}
	var wall, cpu, wallMP, cpuMP, ratio, ssim, rss []float64
	for _, c := range cells {
		wall, cpu, rss = append(wall, c.WallMs), append(cpu, c.CPUMs), append(rss, float64(c.MaxRSS))
		s.RSSMax = max(s.RSSMax, c.MaxRSS)
		if !c.ok() {
			continue
		}
		s.NOK++
		s.BytesIn += c.Image.Bytes
		s.BytesOut += c.OutBytes
		ratio = append(ratio, float64(c.OutBytes)/float64(c.Image.Bytes))
		if v, ok := c.perMP(c.WallMs); ok {
			wallMP = append(wallMP, v)
			v, _ = c.perMP(c.CPUMs)
			cpuMP = append(cpuMP, v)
		}
		if !math.IsNaN(c.SSIM) {
			ssim = append(ssim, c.SSIM)
		}
	}
	s.WallMed, s.WallP95 = Median(wall), Percentile(wall, 95)
	s.CPUMed, s.CPUP95 = Median(cpu), Percentile(cpu, 95)
	s.WallPerMPMed, s.WallPerMPP95 = Median(wallMP), Percentile(wallMP, 95)
	s.CPUPerMPMed, s.CPUPerMPP95 = Median(cpuMP), Percentile(cpuMP, 95)
	s.NPerMP = len(cpuMP)
	s.RatioMed = Median(ratio)
	s.SSIMMed, s.NSSIM = Median(ssim), len(ssim)
	s.SSIMMin = math.NaN()
	if len(ssim) > 0 {
		s.SSIMMin = slices.Min(ssim)
	}
	s.RSSMed = Median(rss)
	return s
}

// pairSummary reduces ours/reference pairs to ratios.
type pairSummary struct {
	N int
	// Per-image ratios ours/reference, median.
	CPURatioMed, WallRatioMed, BytesRatioMed, RSSRatioMed float64
	// Ratios of sums: what a batch of these images costs.
	CPURatioSum, WallRatioSum, BytesRatioSum float64
	// Over the pairs of at least minPerMPMegapixels: per-megapixel CPU
	// of ours and of the reference (sum of time / sum of megapixels).
	NLarge                      int
	OursCPUPerMP, RefCPUPerMP   float64
	OursWallPerMP, RefWallPerMP float64
	// SSIM: mean difference ours-reference and how often ours is at least as good.
	NSSIM        int
	SSIMDiffMean float64
	SSIMOursGE   int
	OursSSIMMean float64
	RefSSIMMean  float64
}

func summarisePairs(ps []pair) pairSummary {
	s := pairSummary{N: len(ps)}
	var cpu, wall, bytes, rss []float64
	var oCPU, rCPU, oWall, rWall, oBytes, rBytes float64
	var oCPUL, rCPUL, oWallL, rWallL, mpL float64
	var dSum, oSum, rSum float64
	for _, p := range ps {
		cpu = append(cpu, p.ours.CPUMs/p.ref.CPUMs)
		wall = append(wall, p.ours.WallMs/p.ref.WallMs)
		bytes = append(bytes, float64(p.ours.OutBytes)/float64(p.ref.OutBytes))
		rss = append(rss, float64(p.ours.MaxRSS)/float64(p.ref.MaxRSS))
		oCPU, rCPU, oWall, rWall = oCPU+p.ours.CPUMs, rCPU+p.ref.CPUMs, oWall+p.ours.WallMs, rWall+p.ref.WallMs
		oBytes, rBytes = oBytes+float64(p.ours.OutBytes), rBytes+float64(p.ref.OutBytes)
		if mp := p.ours.Image.Megapixels(); mp >= minPerMPMegapixels {
			s.NLarge++
			oCPUL, rCPUL, oWallL, rWallL, mpL = oCPUL+p.ours.CPUMs, rCPUL+p.ref.CPUMs, oWallL+p.ours.WallMs, rWallL+p.ref.WallMs, mpL+mp
		}
		if !math.IsNaN(p.ours.SSIM) && !math.IsNaN(p.ref.SSIM) {
			s.NSSIM++
			d := p.ours.SSIM - p.ref.SSIM
			dSum, oSum, rSum = dSum+d, oSum+p.ours.SSIM, rSum+p.ref.SSIM
			if d >= 0 {
				s.SSIMOursGE++
			}
		}
	}
	s.CPURatioMed, s.WallRatioMed, s.BytesRatioMed, s.RSSRatioMed = Median(cpu), Median(wall), Median(bytes), Median(rss)
	s.CPURatioSum, s.WallRatioSum, s.BytesRatioSum = oCPU/rCPU, oWall/rWall, oBytes/rBytes
	s.OursCPUPerMP, s.RefCPUPerMP, s.OursWallPerMP, s.RefWallPerMP = oCPUL/mpL, rCPUL/mpL, oWallL/mpL, rWallL/mpL
	s.SSIMDiffMean, s.OursSSIMMean, s.RefSSIMMean = dSum/float64(s.NSSIM), oSum/float64(s.NSSIM), rSum/float64(s.NSSIM)
	return s
}
