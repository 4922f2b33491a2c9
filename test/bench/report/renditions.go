package report

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/renditions"
)

// RenditionsChart is the bytes-per-pixel chart of the renditions section.
const RenditionsChart = "img/bench-renditions-bytes-per-pixel.png"

// renditionFormats are the formats of the renditions, in the report's order.
var renditionFormats = []outcome.Format{outcome.JPEG, outcome.WebP, outcome.AVIF}

// renditionsOf are the samples of format f that measured.
func renditionsOf(r *Results, f outcome.Format) []renditions.Sample {
	var out []renditions.Sample
	for _, s := range r.Renditions {
		if s.Format == f && s.Err == "" && s.Pixels > 0 {
			out = append(out, s)
		}
	}
	return out
}

func bytesPerPixel(b int64, pixels int) float64 { return float64(b) / float64(pixels) }

func renditionsSection(d doc, r *Results) {
	if len(r.Renditions) == 0 && r.RenditionsNote == "" {
		return
	}
	d.section(fmt.Sprintf("Renditions: WebP and AVIF %d px wide against cwebp and avifenc", renditions.Width),
		fmt.Sprintf("Each photo wider than %d px, made into a JPEG, a WebP and an AVIF %d px wide by one `compress` run (one decode; the settings above, AVIF at the pipeline's speed). "+
			"Every rendition is scored (SSIM, as above) against the photo oriented and resized to %d px with Lanczos; the references encode that same image "+
			"(cwebp at ours' method, avifenc at ours' speed and 4:2:0), each at the smallest size whose SSIM reaches ours' (bisection over `-q` and `cq-level`): "+
			"ours/reference below 1 means ours is smaller at an equal quality score.", renditions.Width, renditions.Width, renditions.Width))
	if r.RenditionsNote != "" {
		d.p("> %s", r.RenditionsNote)
		d.p("")
	}
	d.header(2, "format", "reference", "images", "ours bytes/pixel", "reference bytes/pixel at ours' SSIM", "ours/reference bytes", "ours SSIM")
	for _, f := range renditionFormats {
		samples := renditionsOf(r, f)
		if len(samples) == 0 {
			continue
		}
		var ours, refs, ratios, ssims []float64
		var oursSum, refSum float64
		reference := "–"
		for _, s := range samples {
			ours = append(ours, bytesPerPixel(s.OursBytes, s.Pixels))
			ssims = append(ssims, s.OursSSIM)
			if s.Reference != "" {
				reference = s.Reference
				refs = append(refs, bytesPerPixel(s.RefBytes, s.Pixels))
				ratios = append(ratios, float64(s.OursBytes)/float64(s.RefBytes))
				oursSum += float64(s.OursBytes)
				refSum += float64(s.RefBytes)
			}
		}
		refCol, ratioCol := "–", "–"
		if len(refs) > 0 {
			refCol = fmt.Sprintf("%.3f", Median(refs))
			ratioCol = ratio2(Median(ratios), oursSum/refSum)
		}
		d.row(string(f), reference, fmt.Sprint(len(samples)), fmt.Sprintf("%.3f", Median(ours)), refCol, ratioCol, fmt.Sprintf("%.4f", Median(ssims)))
	}
	d.p("")
	d.p("Bytes per pixel, medians over the images; ours/reference: median of the per-image ratios (ratio of the sums).")
	d.p("")
	d.p("![bytes per pixel per format](%s)", RenditionsChart)
	d.p("")
	d.header(2, "image", "format", "ours KiB", "ours SSIM", "reference KiB", "reference SSIM", "reference setting", "ours/reference")
	for _, s := range r.Renditions {
		if s.Err != "" {
			d.row(s.Image, string(s.Format), "–", "–", "–", "–", "–", "failed: "+clip(s.Err, 60))
			continue
		}
		if s.Reference == "" {
			continue
		}
		d.row(s.Image, string(s.Format), fmt.Sprintf("%.1f", float64(s.OursBytes)/1024), fmt.Sprintf("%.4f", s.OursSSIM),
			fmt.Sprintf("%.1f", float64(s.RefBytes)/1024), fmt.Sprintf("%.4f", s.RefSSIM), s.RefSetting,
			fmt.Sprintf("%.2f×", float64(s.OursBytes)/float64(s.RefBytes)))
	}
	d.p("")
}

// renditionsChart draws the median bytes per pixel per format, ours beside
// the reference at ours' SSIM.
func renditionsChart(docDir string, r *Results) error {
	if len(r.Renditions) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Renditions %d px wide: bytes per pixel (median; lower is better)", renditions.Width)
	p.Y.Label.Text = "bytes per pixel"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	var names []string
	ours, refs := plotter.Values{}, plotter.Values{}
	for _, f := range renditionFormats {
		samples := renditionsOf(r, f)
		if len(samples) == 0 {
			continue
		}
		var o, ref []float64
		for _, s := range samples {
			o = append(o, bytesPerPixel(s.OursBytes, s.Pixels))
			if s.Reference != "" {
				ref = append(ref, bytesPerPixel(s.RefBytes, s.Pixels))
			}
		}
		names = append(names, string(f))
		ours = append(ours, Median(o))
		refs = append(refs, zeroIfNaN(Median(ref))) // no bar: JPEG has no reference here
	}
	width := vg.Points(24)
	for i, series := range []struct {
		name   string
		values plotter.Values
		color  color.Color
	}{
		{"ours", ours, toolStyle["ours"].color},
		{"cwebp / avifenc at ours' SSIM", refs, toolStyle["cwebp"].color},
	} {
		b, err := plotter.NewBarChart(series.values, width)
		if err != nil {
			return err
		}
		b.Color, b.LineStyle.Width = series.color, 0
		b.Offset = vg.Length(float64(i)-0.5) * width
		p.Add(b)
		p.Legend.Add(series.name, b)
	}
	p.NominalX(names...)
	path := filepath.Join(docDir, RenditionsChart)
	if err := p.Save(14*vg.Centimeter, 9*vg.Centimeter, path); err != nil {
		return fmt.Errorf("chart %s: %w", RenditionsChart, err)
	}
	return nil
}

func zeroIfNaN(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}
