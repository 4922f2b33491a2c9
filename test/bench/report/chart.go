package report

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Every tool keeps its colour and marker in every chart.
var toolStyle = map[string]struct {
	color color.Color
	shape draw.GlyphDrawer
}{
	"ours":          {color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, draw.CircleGlyph{}},
	"libjpeg-turbo": {color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, draw.SquareGlyph{}},
	"im6-naive":     {color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}, draw.TriangleGlyph{}},
	"optipng":       {color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, draw.PyramidGlyph{}},
	"cwebp":         {color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, draw.PlusGlyph{}},
}

// Chart files, relative to the report's directory.
const (
	SizeQualityChart = "img/bench-size-quality.png"
	SpeedChart       = "img/bench-speed.png"
)

// writeCharts draws the charts into docDir (the report's directory).
func writeCharts(docDir string, r *Results, t table) error {
	if err := sizeQuality(filepath.Join(docDir, SizeQualityChart), r, t); err != nil {
		return fmt.Errorf("chart %s: %w", SizeQualityChart, err)
	}
	if err := speed(filepath.Join(docDir, SpeedChart), r, t); err != nil {
		return fmt.Errorf("chart %s: %w", SpeedChart, err)
	}
	if err := curves(filepath.Join(docDir, CurvesChart), r); err != nil {
		return fmt.Errorf("chart %s: %w", CurvesChart, err)
	}
	return nil
}

// sizeQuality plots, per tool, each JPEG photo's bytes saved against its
// SSIM: right is smaller, up is closer to the input.
func sizeQuality(path string, r *Results, t table) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("JPEG photos (≥ %.1f MP): bytes saved vs SSIM", minPerMPMegapixels)
	p.X.Label.Text = "bytes saved vs input (%)"
	p.Y.Label.Text = "SSIM vs input (luma)"
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = false, true
	p.Legend.YOffs = vg.Points(10)
	p.Legend.XOffs = vg.Points(10)
	for i, tool := range r.Tools {
		var xys plotter.XYs
		for _, c := range t.cells(tool.Name, string(outcome.JPEG)) {
			if c.ok() && !math.IsNaN(c.SSIM) && c.Image.Megapixels() >= minPerMPMegapixels {
				xys = append(xys, plotter.XY{X: 100 * (1 - float64(c.OutBytes)/float64(c.Image.Bytes)), Y: c.SSIM})
			}
		}
		if len(xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		st := toolStyle[tool.Name]
		// Later tools get smaller markers, so coinciding points stay visible.
		s.Color, s.Shape, s.Radius = st.color, st.shape, vg.Points(6-1.2*float64(i))
		p.Add(s)
		p.Legend.Add(tool.Name, s)
	}
	return p.Save(16*vg.Centimeter, 11*vg.Centimeter, path)
}

// speed draws CPU milliseconds per megapixel per tool, grouped by input
// format: sum of time over sum of megapixels, images of at least
// minPerMPMegapixels that got an output.
func speed(path string, r *Results, t table) error {
	var classes []string
	for _, f := range outcome.Formats() {
		class := string(f)
		if len(t.cells("ours", class)) > 0 {
			classes = append(classes, class)
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("CPU time per megapixel, images ≥ %.1f MP (lower is better)", minPerMPMegapixels)
	p.Y.Label.Text = "CPU ms / MP (user+sys), log scale"
	// A log scale: optipng's PNG bars would flatten the JPEG ones.
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	p.Legend.Top, p.Legend.Left = true, false
	var present []string
	for _, tool := range r.Tools {
		for _, class := range classes {
			if _, ok := cpuPerMP(t.cells(tool.Name, class)); ok {
				present = append(present, tool.Name)
				break
			}
		}
	}
	width := vg.Points(60 / float64(max(len(present), 1)))
	// Bars start at 0, which a log scale cannot place: each bar stands on an
	// undrawn base of logFloor, where the axis starts.
	floor := make(plotter.Values, len(classes))
	for j := range floor {
		floor[j] = logFloor
	}
	base, err := plotter.NewBarChart(floor, width)
	if err != nil {
		return err
	}
	for i, name := range present {
		vals := make(plotter.Values, len(classes)) // 0: no bar, the tool does not apply
		for j, class := range classes {
			if v, ok := cpuPerMP(t.cells(name, class)); ok {
				vals[j] = max(v, logFloor) - logFloor
			}
		}
		b, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return err
		}
		b.StackOn(base)
		b.Color = toolStyle[name].color
		b.LineStyle.Width = 0
		b.Offset = vg.Length(float64(i)-float64(len(present)-1)/2) * width
		p.Add(b)
		p.Legend.Add(name, b)
	}
	p.NominalX(classes...)
	return p.Save(16*vg.Centimeter, 10*vg.Centimeter, path)
}

// logFloor is the bottom of the speed chart's log axis, in ms per megapixel.
const logFloor = 1

// cpuPerMP is sum of CPU time over sum of megapixels of the cells that count.
func cpuPerMP(cells []*cell) (float64, bool) {
	var ms, mp float64
	for _, c := range cells {
		if _, ok := c.perMP(c.CPUMs); ok {
			ms += c.CPUMs
			mp += c.Image.Megapixels()
		}
	}
	if mp == 0 {
		return 0, false
	}
	return ms / mp, true
}
