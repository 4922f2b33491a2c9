// Package quality measures compression power as issue 12 defines it: bytes
// at equal perceptual quality, judged by SSIMULACRA2 (libjxl's tool). It
// encodes each JPEG photo at a range of settings with ours and the
// references (jpegli through the project's ImageMagick, libjpeg-turbo's
// cjpeg, Debian's ImageMagick 6 as the naive approach) for per-image
// bytes-against-score curves; checks that the quality search's outputs land
// on their target score; measures lossy PNG on photo-like PNGs; and times
// the search against a fixed quality on the largest photo.
package quality

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/measure"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/tools"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
)

// The studies.
const (
	Curve     = "curve"     // JPEG photos at a range of settings, every tool
	Agreement = "agreement" // ours at target scores, JPEG and WebP output, photo-like images
	LossyPNG  = "lossy-png" // ours with png.targetScore on photo-like PNGs
	Cost      = "cost"      // ours searched and fixed on the largest photo, repeated
)

// Tools of the curves besides ours (tools.Ours).
const (
	Jpegli    = "jpegli"
	Turbo     = tools.TurboJPEG
	NaiveIM6  = tools.NaiveMagic
	OursFixed = "ours-fixed" // ours at the fixed jpeg.quality, for the search's cost
)

// Settings of a run.
var (
	// CurveQualities are the references' qualities on the curves.
	CurveQualities = []int{60, 70, 80, 85, 90, 95}
	// CurveTargets are ours' target scores on the curves.
	CurveTargets = []float64{70, 75, 80, 85, 90}
	// LossyPNGTarget is png.targetScore in the lossy PNG study.
	LossyPNGTarget = 70.0
	// CostRounds repeat the cost study's two encodes.
	CostRounds = 3
)

// Point is one encode of one image.
type Point struct {
	Study, Tool, Image string
	// Param is ours' target score (0: the settings as they are) or a
	// reference's quality.
	Param     float64
	FormatOut outcome.Format
	InBytes   int64
	Bytes     int64
	Decision  string
	Quality   int     // ours: the quality it chose
	Estimate  float64 // ours: its own SSIMULACRA2 estimate
	Score     float64 // the tool's
	CPUMs     float64
	Err       string
}

// Options are the binaries and where to work.
type Options struct {
	Compress, Magick string
	Scorer           *tools.S2Scorer
	Dir              string
	Settings         config.Settings // ours' base settings (the defaults)
	Log              func(format string, args ...any)
}

// Run runs every study over images.
func Run(ctx context.Context, o Options, images []corpus.Image) []Point {
	var points []Point
	add := func(p Point) {
		points = append(points, p)
	}
	var photos, photoLike, pngPhotos []corpus.Image
	for _, im := range images {
		switch im.Category {
		case "photo-jpeg":
			photos = append(photos, im)
			photoLike = append(photoLike, im)
		case "kodak", "photo-png":
			photoLike = append(photoLike, im)
			pngPhotos = append(pngPhotos, im)
		case "heic-avif":
			photoLike = append(photoLike, im)
		}
	}
	start := time.Now()
	for _, im := range photos {
		add(o.ours(ctx, Curve, im, 0, nil))
		for _, t := range CurveTargets {
			add(o.ours(ctx, Curve, im, t, func(s *config.Settings) { s.JPEG.TargetScore = t }))
		}
		for _, q := range CurveQualities {
			add(o.reference(ctx, Jpegli, im, q))
			add(o.reference(ctx, Turbo, im, q))
			add(o.reference(ctx, NaiveIM6, im, q))
		}
	}
	o.Log("SSIMULACRA2 curves of %d photos: %s", len(photos), time.Since(start).Round(time.Second))
	start = time.Now()
	target := o.Settings.JPEG.TargetScore
	if target == 0 {
		target = 80
	}
	for _, im := range photoLike {
		add(o.ours(ctx, Agreement, im, target, func(s *config.Settings) { s.Outputs = []config.Output{{Format: "jpeg"}}; s.JPEG.TargetScore = target }))
		add(o.ours(ctx, Agreement, im, target, func(s *config.Settings) { s.Outputs = []config.Output{{Format: "webp"}}; s.WebP.TargetScore = target }))
	}
	for _, im := range pngPhotos {
		add(o.ours(ctx, LossyPNG, im, LossyPNGTarget, func(s *config.Settings) { s.PNG.TargetScore = LossyPNGTarget }))
	}
	o.Log("target agreement on %d photo-like images and lossy PNG on %d: %s", len(photoLike), len(pngPhotos), time.Since(start).Round(time.Second))
	if largest := largestPhoto(photos); largest != nil {
		fixed := func(s *config.Settings) { s.JPEG.TargetScore = 0 }
		searched := func(s *config.Settings) {
			if s.JPEG.TargetScore == 0 {
				s.JPEG.TargetScore = target
			}
		}
		for range CostRounds {
			p := o.ours(ctx, Cost, *largest, 0, fixed)
			p.Tool = OursFixed
			add(p)
			add(o.ours(ctx, Cost, *largest, target, searched))
		}
	}
	return points
}

func largestPhoto(photos []corpus.Image) *corpus.Image {
	var best *corpus.Image
	for i := range photos {
		if best == nil || photos[i].Megapixels() > best.Megapixels() {
			best = &photos[i]
		}
	}
	return best
}

// ours runs the compress CLI with the base settings changed by change.
func (o Options) ours(ctx context.Context, study string, im corpus.Image, param float64, change func(*config.Settings)) Point {
	p := Point{Study: study, Tool: tools.Ours, Image: im.Name, Param: param, InBytes: im.Bytes}
	s := o.Settings
	if change != nil {
		change(&s)
	}
	dir := filepath.Join(o.Dir, study, fmt.Sprintf("ours-%s-%g-%s", s.Outputs[0].Format, param, strings.TrimSuffix(im.Name, filepath.Ext(im.Name))))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(p, err)
	}
	doc, err := json.Marshal(s)
	if err != nil {
		return fail(p, err)
	}
	cfg := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(cfg, doc, 0o644); err != nil {
		return fail(p, err)
	}
	var stdout bytes.Buffer
	m, err := measure.Run(ctx, nil, &stdout, measure.Cmd{Args: []string{o.Compress, "-config", cfg, "-out", dir, im.Path}})
	if err != nil {
		return fail(p, err)
	}
	var line outcome.File
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &line); err != nil {
		return fail(p, fmt.Errorf("compress printed %q: %w", stdout.String(), err))
	}
	p.CPUMs, p.Decision, p.FormatOut, p.Quality, p.Estimate = ms(m.CPU), string(line.Decision), line.FormatOut, line.Quality, line.Score
	p.Bytes = int64(line.BytesOut)
	if line.Output == "" {
		p.Err = line.Reason
		return p
	}
	return o.score(ctx, p, im, line.Output)
}

// reference runs a reference at quality q.
func (o Options) reference(ctx context.Context, tool string, im corpus.Image, q int) Point {
	p := Point{Study: Curve, Tool: tool, Image: im.Name, Param: float64(q), InBytes: im.Bytes, FormatOut: outcome.JPEG}
	dir := filepath.Join(o.Dir, Curve, tool)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(p, err)
	}
	out := filepath.Join(dir, fmt.Sprintf("%s-q%d.jpg", strings.TrimSuffix(im.Name, filepath.Ext(im.Name)), q))
	qs := strconv.Itoa(q)
	system := []string{"LD_LIBRARY_PATH="}
	var cmds []measure.Cmd
	switch tool {
	case Jpegli: // the project's ImageMagick: jpegli when the build links it
		cmds = []measure.Cmd{{Args: []string{o.Magick, im.Path, "-auto-orient", "-strip", "-quality", qs, "-sampling-factor", "2x2", "-interlace", "JPEG", out}}}
	case Turbo:
		cmds = []measure.Cmd{{Args: []string{"djpeg", im.Path}, Env: system},
			{Args: []string{"cjpeg", "-quality", qs, "-optimize", "-progressive", "-outfile", out}, Env: system}}
	case NaiveIM6:
		cmds = []measure.Cmd{{Args: []string{tools.IM6, im.Path, "-quality", qs, out}, Env: system}}
	}
	m, err := measure.Run(ctx, nil, nil, cmds...)
	if err != nil {
		return fail(p, err)
	}
	p.CPUMs = ms(m.CPU)
	st, err := os.Stat(out)
	if m.ExitCode != 0 || err != nil {
		return fail(p, fmt.Errorf("exit %d: %s", m.ExitCode, strings.TrimSpace(m.Stderr)))
	}
	p.Bytes, p.Decision = st.Size(), "ok"
	return o.score(ctx, p, im, out)
}

// score adds the tool's SSIMULACRA2 of output. cjpeg keeps the stored pixel
// order without the EXIF tag, so its output is scored against the unrotated
// input (as in the main tables).
func (o Options) score(ctx context.Context, p Point, im corpus.Image, output string) Point {
	v, err := o.Scorer.Score(ctx, im.Path, output, p.Tool != Turbo)
	if err != nil {
		p.Err = err.Error()
		return p
	}
	p.Score = v
	return p
}

func fail(p Point, err error) Point {
	p.Err = err.Error()
	return p
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
