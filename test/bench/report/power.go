package report

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/quality"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/tools"
)

// Compression power goals (issue 12), judged by SSIMULACRA2.
const (
	powerBytesLimit   = 0.75 // ours' JPEG photo bytes / naive ImageMagick 6's
	powerBelowLimit   = 3.0  // no photo more than this many points below naive's score
	agreementPoints   = 2.0  // the output's score within this of the target...
	agreementShare    = 0.95 // ...on at least this share of images
	lossyPNGLimit     = 0.45 // lossy PNG bytes / input, photo-like PNGs
	searchCostLimit   = 2.0  // CPU of a searched encode / a fixed-quality one, largest photo
	pngOptiShareLimit = 0.90 // share of PNGs at most optipng's size
	pngOptiBytesLimit = 1.00 // ours' PNG bytes / optipng -o2's, in total
)

// CurvesChart is the per-photo bytes-against-SSIMULACRA2 chart.
const CurvesChart = "img/bench-curves.png"

// photoRow is one photo's figures at the settings under test.
type photoRow struct {
	image                    string
	inBytes                  int64
	ours, naive              quality.Point // ours at the default settings; naive at quality 80
	oursAtNaive, jpegliAtNai float64       // bytes at naive's score, interpolated on the curves
}

func points(r *Results, study, tool, image string) []quality.Point {
	var ps []quality.Point
	for _, p := range r.Power {
		if p.Study == study && p.Tool == tool && (image == "" || p.Image == image) && p.Err == "" && p.Bytes > 0 {
			ps = append(ps, p)
		}
	}
	return ps
}

func powerImages(r *Results) []string {
	var names []string
	for _, p := range r.Power {
		if p.Study == quality.Curve && !slices.Contains(names, p.Image) {
			names = append(names, p.Image)
		}
	}
	sort.Strings(names)
	return names
}

func photoRows(r *Results) []photoRow {
	var rows []photoRow
	for _, name := range powerImages(r) {
		row := photoRow{image: name}
		for _, p := range points(r, quality.Curve, tools.Ours, name) {
			if p.Param == 0 {
				row.ours, row.inBytes = p, p.InBytes
			}
		}
		for _, p := range points(r, quality.Curve, quality.NaiveIM6, name) {
			if p.Param == 80 {
				row.naive = p
			}
		}
		if row.ours.Bytes == 0 || row.naive.Bytes == 0 {
			continue
		}
		row.oursAtNaive = bytesAt(points(r, quality.Curve, tools.Ours, name), row.naive.Score)
		row.jpegliAtNai = bytesAt(points(r, quality.Curve, quality.Jpegli, name), row.naive.Score)
		rows = append(rows, row)
	}
	return rows
}

// bytesAt interpolates a curve's bytes at a score (NaN outside it). Points
// with equal scores keep the smaller size.
func bytesAt(ps []quality.Point, score float64) float64 {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Score < ps[j].Score })
	for i := 1; i < len(ps); i++ {
		a, b := ps[i-1], ps[i]
		if a.Score <= score && score <= b.Score && b.Score > a.Score {
			f := (score - a.Score) / (b.Score - a.Score)
			return float64(a.Bytes) + f*float64(b.Bytes-a.Bytes)
		}
	}
	return math.NaN()
}

// powerTargets checks issue 12's goals.
func powerTargets(r *Results, t table) []Target {
	var out []Target
	rows := photoRows(r)
	jpeg := Target{Name: "JPEG power", Goal: fmt.Sprintf("photo bytes ≤ %.2f× naive ImageMagick 6 `convert -quality 80`, mean SSIMULACRA2 ≥ its mean, none > %.0f points below its score, none bigger than its input", powerBytesLimit, powerBelowLimit)}
	if len(rows) > 0 {
		var ours, naive, in, sO, sN float64
		worst, worstImage, bigger := math.Inf(1), "", 0
		for _, row := range rows {
			ours += float64(row.ours.Bytes)
			naive += float64(row.naive.Bytes)
			in += float64(row.inBytes)
			sO += row.ours.Score
			sN += row.naive.Score
			if d := row.ours.Score - row.naive.Score; d < worst {
				worst, worstImage = d, row.image
			}
			if row.ours.Bytes > row.inBytes {
				bigger++
			}
		}
		n := float64(len(rows))
		ratio := ours / naive
		jpeg.Checked = true
		jpeg.Pass = ratio <= powerBytesLimit && sO >= sN && worst >= -powerBelowLimit && bigger == 0
		jpeg.Measured = fmt.Sprintf("%.3f× its bytes over %s; mean SSIMULACRA2 %.2f vs %.2f; worst %+.2f (%s); %d bigger than the input",
			ratio, plural(len(rows), "photo"), sO/n, sN/n, worst, worstImage, bigger)
		jpeg.By = "bytes: " + margin(ratio, powerBytesLimit, "bytes ratio")
		if sO < sN {
			jpeg.By += fmt.Sprintf("; mean score %.2f below", (sN-sO)/n)
		}
		if worst < -powerBelowLimit {
			jpeg.By += fmt.Sprintf("; %s %.2f points below naive", worstImage, -worst)
		}
	}
	out = append(out, jpeg)

	agree := Target{Name: "Target agreement", Goal: fmt.Sprintf("≥ %.0f%% of searched outputs within %.0f points of the target score (SSIMULACRA2 tool)", agreementShare*100, agreementPoints)}
	var within, total int
	var worstMiss float64
	for _, p := range points(r, quality.Agreement, tools.Ours, "") {
		if p.Decision != string(outcome.Compressed) || p.Quality == 0 {
			continue
		}
		total++
		if d := math.Abs(p.Score - p.Param); d <= agreementPoints {
			within++
		} else {
			worstMiss = math.Max(worstMiss, d)
		}
	}
	if total > 0 {
		share := float64(within) / float64(total)
		agree.Checked = true
		agree.Pass = share >= agreementShare
		agree.Measured = fmt.Sprintf("%d of %d (%.0f%%) JPEG and WebP outputs of photo-like images; largest miss %.2f points", within, total, share*100, worstMiss)
		agree.By = margin(1-share, 1-agreementShare, "share outside")
	}
	out = append(out, agree)

	lossy := Target{Name: "Lossy PNG", Goal: fmt.Sprintf("≤ %.2f× the input on photo-like PNGs at png.targetScore %.0f", lossyPNGLimit, quality.LossyPNGTarget)}
	if ps := points(r, quality.LossyPNG, tools.Ours, ""); len(ps) > 0 {
		var in, o float64
		palettes, below := 0, 0
		for _, p := range ps {
			in += float64(p.InBytes)
			o += float64(p.Bytes)
			if p.Estimate > 0 {
				palettes++
				if p.Score < p.Param-agreementPoints {
					below++
				}
			}
		}
		lossy.Checked = true
		lossy.Pass = o/in <= lossyPNGLimit
		lossy.Measured = fmt.Sprintf("%.3f× over %s: %d written as palettes (%d of them more than %.0f points below the target by the tool), the rest lossless",
			o/in, plural(len(ps), "PNG"), palettes, below, agreementPoints)
		lossy.By = margin(o/in, lossyPNGLimit, "bytes ratio")
	}
	out = append(out, lossy)

	cost := Target{Name: "Search cost", Goal: fmt.Sprintf("CPU ≤ %.0f× one fixed-quality encode, largest photo", searchCostLimit)}
	fixed, searched := cpuOf(points(r, quality.Cost, quality.OursFixed, "")), cpuOf(points(r, quality.Cost, tools.Ours, ""))
	if len(fixed) > 0 && len(searched) > 0 {
		ratio := Median(searched) / Median(fixed)
		cost.Checked = true
		cost.Pass = ratio <= searchCostLimit
		cost.Measured = fmt.Sprintf("%.2f× (median CPU %.0f vs %.0f ms over %d runs of the compress CLI on %s)", ratio, Median(searched), Median(fixed), len(searched), r.Power[len(r.Power)-1].Image)
		cost.By = margin(ratio, searchCostLimit, "×")
	}
	out = append(out, cost)

	po := t.pairs(tools.OptiPNG, string(outcome.PNG))
	png := Target{Name: "PNG lossless", Goal: fmt.Sprintf("bytes ≤ %.2f× optipng -o2 (same chunks kept) in total and on ≥ %.0f%% of PNGs", pngOptiBytesLimit, pngOptiShareLimit*100)}
	if len(po) > 0 {
		var o, ref float64
		atMost := 0
		var worse []string
		for _, p := range po {
			o += float64(p.ours.OutBytes)
			ref += float64(p.ref.OutBytes)
			if p.ours.OutBytes <= p.ref.OutBytes {
				atMost++
			} else {
				worse = append(worse, fmt.Sprintf("%s +%d B", p.ours.Image.Name, p.ours.OutBytes-p.ref.OutBytes))
			}
		}
		share := float64(atMost) / float64(len(po))
		png.Checked = true
		png.Pass = o/ref <= pngOptiBytesLimit && share >= pngOptiShareLimit
		png.Measured = fmt.Sprintf("%.4f× its bytes over %s; at most its size on %d (%.0f%%)", o/ref, plural(len(po), "PNG"), atMost, share*100)
		png.By = margin(o/ref, pngOptiBytesLimit, "bytes ratio")
		if len(worse) > 0 {
			png.By += fmt.Sprintf("; larger: %v", worse[:min(len(worse), 4)])
		}
	}
	out = append(out, png)
	return out
}

func cpuOf(ps []quality.Point) []float64 {
	var v []float64
	for _, p := range ps {
		v = append(v, p.CPUMs)
	}
	return v
}

// powerSection shows the photos one by one and the curves.
func powerSection(d doc, r *Results) {
	rows := photoRows(r)
	if len(rows) == 0 {
		return
	}
	d.section("Compression power: bytes at equal SSIMULACRA2",
		"Each JPEG photo through ours at its settings and at target scores "+fmt.Sprint(quality.CurveTargets)+
			", and through the references at qualities "+fmt.Sprint(quality.CurveQualities)+
			": jpegli (the project's ImageMagick; see Setup for which libjpeg it loaded), libjpeg-turbo's cjpeg, and Debian's ImageMagick 6 `convert IN -quality Q OUT`, the naive approach (it keeps the input's chroma subsampling). "+
			"Scores: libjxl's `ssimulacra2` tool on both images decoded by ImageMagick 6 (libjpeg-turbo, as browsers decode), EXIF orientation applied. "+
			"\"At naive's score\": the bytes each curve needs for the naive output's score, interpolated.")
	d.p("![bytes against SSIMULACRA2 per photo](%s)\n", CurvesChart)
	d.header(1, "photo", "input", "ours (settings)", "naive IM6 q80", "ours at naive's score", "jpegli at naive's score")
	for _, row := range rows {
		d.row(row.image, size(float64(row.inBytes)),
			fmt.Sprintf("%s, %.2f (q%d, est. %.2f, %s)", size(float64(row.ours.Bytes)), row.ours.Score, row.ours.Quality, row.ours.Estimate, row.ours.Decision),
			fmt.Sprintf("%s, %.2f", size(float64(row.naive.Bytes)), row.naive.Score),
			atScore(row.oursAtNaive, row.naive.Bytes), atScore(row.jpegliAtNai, row.naive.Bytes))
	}
	d.p("")
	ag := points(r, quality.Agreement, tools.Ours, "")
	if len(ag) > 0 {
		d.p("Target agreement, per image (target %g): the chosen quality, the pipeline's estimate and the tool's score of the output.\n", ag[0].Param)
		d.header(3, "image", "format", "quality", "estimate", "tool", "tool − target", "bytes")
		for _, p := range ag {
			if p.Decision != string(outcome.Compressed) {
				d.row(p.Image, string(p.FormatOut), "–", "–", "–", p.Decision, size(float64(p.Bytes)))
				continue
			}
			d.row(p.Image, string(p.FormatOut), fmt.Sprint(p.Quality), fmt.Sprintf("%.2f", p.Estimate), fmt.Sprintf("%.2f", p.Score), fmt.Sprintf("%+.2f", p.Score-p.Param), size(float64(p.Bytes)))
		}
		d.p("")
	}
	if ps := points(r, quality.LossyPNG, tools.Ours, ""); len(ps) > 0 {
		d.p("Lossy PNG (png.targetScore %.0f): a 256-colour Riemersma-dithered palette where it reaches the target, else lossless.\n", quality.LossyPNGTarget)
		d.header(2, "image", "input", "output", "out/in", "SSIMULACRA2 (tool)", "palette")
		for _, p := range ps {
			d.row(p.Image, size(float64(p.InBytes)), size(float64(p.Bytes)), fmt.Sprintf("%.3f", float64(p.Bytes)/float64(p.InBytes)), fmt.Sprintf("%.2f", p.Score), fmt.Sprint(p.Estimate > 0))
		}
		d.p("")
	}
}

func atScore(b float64, naive int64) string {
	if math.IsNaN(b) {
		return "outside its curve"
	}
	return fmt.Sprintf("%s (%.2f×)", size(b), b/float64(naive))
}

var curveStyle = map[string]color.Color{
	tools.Ours:        color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	quality.Jpegli:    color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	quality.Turbo:     color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	quality.NaiveIM6:  color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	quality.OursFixed: color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// curves draws one panel per photo: KiB against SSIMULACRA2, a line per tool
// (ours along its target scores), ours' default and naive's q80 circled.
func curves(path string, r *Results) error {
	names := powerImages(r)
	if len(names) == 0 {
		return nil
	}
	cols := 3
	rowsN := (len(names) + cols - 1) / cols
	plots := make([][]*plot.Plot, rowsN)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for n, name := range names {
		p := plot.New()
		p.Title.Text = name
		p.X.Label.Text = "KiB"
		p.Y.Label.Text = "SSIMULACRA2"
		p.Add(plotter.NewGrid())
		p.Legend.Top = false
		p.Legend.Left = false
		for _, tool := range []string{tools.Ours, quality.Jpegli, quality.Turbo, quality.NaiveIM6} {
			ps := points(r, quality.Curve, tool, name)
			sort.Slice(ps, func(i, j int) bool { return ps[i].Bytes < ps[j].Bytes })
			var xys, marked plotter.XYs
			for _, pt := range ps {
				xy := plotter.XY{X: float64(pt.Bytes) / 1024, Y: pt.Score}
				if tool == tools.Ours && pt.Param == 0 || tool == quality.NaiveIM6 && pt.Param == 80 {
					marked = append(marked, xy)
				}
				if tool == tools.Ours && pt.Param == 0 {
					continue
				}
				xys = append(xys, xy)
			}
			if len(xys) == 0 {
				continue
			}
			l, s, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			l.Color, s.Color, s.Shape = curveStyle[tool], curveStyle[tool], draw.CircleGlyph{}
			s.Radius = vg.Points(2)
			p.Add(l, s)
			if n == 0 {
				p.Legend.Add(tool, l)
			}
			if len(marked) > 0 {
				m, err := plotter.NewScatter(marked)
				if err != nil {
					return err
				}
				m.Color, m.Shape, m.Radius = curveStyle[tool], draw.RingGlyph{}, vg.Points(6)
				p.Add(m)
			}
		}
		plots[n/cols][n%cols] = p
	}
	const w, h = 30 * vg.Centimeter, 9 * vg.Centimeter
	img := vgimg.New(w, vg.Length(rowsN)*h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rowsN, Cols: cols, PadX: vg.Millimeter, PadY: vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j := range plots[i] {
			if plots[i][j] != nil {
				plots[i][j].Draw(canvases[i][j])
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
