package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/ssimulacra2"
)

// The quality search: with a perceptual target (config's targetScore), a
// lossy encoder gets, per image, the lowest quality whose output reaches that
// SSIMULACRA2 score, so easy images take fewer bytes and hard ones keep their
// detail. The search must cost less than one more encode of the image, so it
// never encodes or scores the whole of a large image: it works on a sample,
// encodes the sample at a few qualities, scores each against the sample's
// original pixels in-process (package ssimulacra2), and the full image is
// encoded once, at the chosen quality.

// A lossy codec, as the search drives it.
type lossyCodec struct {
	name string
	// encode writes the (single-frame) wand at quality q with the output's
	// other settings, exactly as the final encode will.
	encode func(mw *imagick.MagickWand, q int) ([]byte, error)
	// decode reads an encoded sample back to pixels, as browsers would.
	decode func(blob []byte) (image.Image, error)
	// lo..hi is the quality range; guess(target) the first quality tried;
	// slope the typical score points per quality step near the target.
	lo, hi int
	guess  func(target float64) int
	slope  float64
}

// The sample: images up to sampleCells cells of pixels are searched whole;
// larger ones on a mosaic of a sampleGrid x sampleGrid grid of cells spread
// over the image (cells, their positions and the mosaic aligned to 16
// pixels, the macroblocks of JPEG 4:2:0 and WebP, so blocks see the same
// pixels as in the full image). 256-pixel cells still have 8 pixels at the
// metric's coarsest scale.
const (
	sampleCell  = 256
	sampleGrid  = 3
	sampleCells = sampleGrid * sampleGrid
	// mosaicBias: on the corpus's mosaic-sampled photos (0.96 to 12 MP),
	// a mosaic's score (seams left out) is 0.9 points above the whole
	// image's on average, from -0.3 to +2.6 (JPEG and WebP at target 85, the
	// whole image scored by the tool on libjpeg-turbo decodes). The search
	// aims that much higher.
	mosaicBias = 0.9
	// maxTrials bounds the encodes of the sample.
	maxTrials = 4
)

// sample is the part of an image the search encodes.
type sample struct {
	cells  []image.Rectangle // in the image: one region, or the grid's cells
	pixels *image.NRGBA      // the region, or the cells' mosaic
	ref    *ssimulacra2.Reference
	bias   float64 // added to the target (mosaicBias for a mosaic)
}

// errTooSmall: the metric needs 8x8 pixels.
var errTooSmall = errors.New("too small for the perceptual metric")

// takeSample exports the search's sample from the wand's current frame.
func takeSample(mw *imagick.MagickWand) (*sample, error) {
	w, h := int(mw.GetImageWidth()), int(mw.GetImageHeight())
	if w < ssimulacra2.MinSize || h < ssimulacra2.MinSize {
		return nil, fmt.Errorf("%dx%d: %w", w, h, errTooSmall)
	}
	s := &sample{cells: sampleCellsOf(w, h)}
	px, err := s.pixelsOf(mw)
	if err != nil {
		return nil, err
	}
	s.pixels = px
	if len(s.cells) == 1 {
		s.ref, err = ssimulacra2.NewReference(px)
	} else {
		s.ref, err = ssimulacra2.NewMosaicReference(px, sampleCell)
		s.bias = mosaicBias
	}
	return s, err
}

// sampleCellsOf lays out the sample of a w x h image: the whole image, a
// centred strip of about sampleCells cells' pixels (when a side is too short
// for the grid), or the grid's cells, their centres at (2i+1)/6 of each side.
func sampleCellsOf(w, h int) []image.Rectangle {
	const budget = sampleCells * sampleCell * sampleCell
	if w*h <= budget || min(w, h) < sampleCell*sampleGrid {
		cw, ch := w, h
		if w*h > budget && w > h {
			cw = min(w, budget/h) &^ 15
		} else if w*h > budget {
			ch = min(h, budget/w) &^ 15
		}
		x, y := ((w-cw)/2)&^15, ((h-ch)/2)&^15
		return []image.Rectangle{image.Rect(x, y, x+cw, y+ch)}
	}
	var cells []image.Rectangle
	for i := range sampleGrid {
		for k := range sampleGrid {
			x := ((2*i+1)*w/(2*sampleGrid) - sampleCell/2) &^ 15
			y := ((2*k+1)*h/(2*sampleGrid) - sampleCell/2) &^ 15
			cells = append(cells, image.Rect(x, y, x+sampleCell, y+sampleCell))
		}
	}
	return cells
}

// pixelsOf exports the sample's cells of mw's current frame: the one region
// as it is, or the grid's cells side by side in a mosaic (column i, row k).
func (s *sample) pixelsOf(mw *imagick.MagickWand) (*image.NRGBA, error) {
	if len(s.cells) == 1 {
		c := s.cells[0]
		return export(mw, c.Min.X, c.Min.Y, c.Dx(), c.Dy())
	}
	const side = sampleGrid * sampleCell
	mosaic := image.NewNRGBA(image.Rect(0, 0, side, side))
	for n, c := range s.cells {
		px, err := export(mw, c.Min.X, c.Min.Y, sampleCell, sampleCell)
		if err != nil {
			return nil, err
		}
		i, k := n/sampleGrid, n%sampleGrid
		for row := range sampleCell {
			dst := mosaic.Pix[(k*sampleCell+row)*mosaic.Stride+4*i*sampleCell:]
			copy(dst[:4*sampleCell], px.Pix[row*px.Stride:])
		}
	}
	return mosaic, nil
}

// export copies a region of the wand's current frame as 8-bit RGBA.
func export(mw *imagick.MagickWand, x, y, w, h int) (*image.NRGBA, error) {
	px, err := mw.ExportImagePixels(x, y, uint(w), uint(h), "RGBA", imagick.PIXEL_CHAR)
	if err != nil {
		return nil, err
	}
	b, ok := px.([]byte)
	if !ok || len(b) != 4*w*h {
		return nil, fmt.Errorf("export %dx%d pixels: got %T of %d", w, h, px, len(b))
	}
	return &image.NRGBA{Pix: b, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}, nil
}

// score encodes the sample at quality q and scores it.
func (s *sample) score(c lossyCodec, q int) (float64, error) {
	mw := imagick.NewMagickWand()
	defer mw.Destroy()
	b := s.pixels.Rect
	if err := mw.ConstituteImage(uint(b.Dx()), uint(b.Dy()), "RGBA", imagick.PIXEL_CHAR, s.pixels.Pix); err != nil {
		return 0, err
	}
	blob, err := c.encode(mw, q)
	if err != nil {
		return 0, err
	}
	img, err := c.decode(blob)
	if err != nil {
		return 0, fmt.Errorf("decode the %s sample: %w", c.name, err)
	}
	return s.ref.Score(img)
}

// searchQuality returns the lowest quality at which the codec's output of
// the wand's current frame reaches target on the sample, and the estimated
// score there; c.hi when no quality does.
func searchQuality(ctx context.Context, mw *imagick.MagickWand, c lossyCodec, target float64) (int, float64, error) {
	s, err := takeSample(mw)
	if err != nil {
		return 0, 0, err
	}
	return search(ctx, func(q int) (float64, error) { return s.score(c, q) }, target+s.bias, c)
}

// search looks for the lowest quality scoring at least target in at most
// maxTrials calls of score, assuming scores grow with quality: each trial
// moves by the score missing (or to spare) over the slope measured between
// the trials so far, staying strictly between the best passing and failing
// qualities, and the search ends when they are adjacent.
func search(ctx context.Context, score func(q int) (float64, error), target float64, c lossyCodec) (int, float64, error) {
	tried := map[int]float64{}
	pass, fail := c.hi+1, c.lo-1 // lowest passing and highest failing quality so far
	q := clamp(c.guess(target), c.lo, c.hi)
	for range maxTrials {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		v, err := score(q)
		if err != nil {
			return 0, 0, fmt.Errorf("quality search: %s at quality %d: %w", c.name, q, err)
		}
		tried[q] = v
		if v >= target {
			pass = min(pass, q)
		} else {
			fail = max(fail, q)
		}
		if pass-fail <= 1 || pass == c.lo || fail == c.hi {
			break
		}
		q = next(tried, q, target, pass, fail, c.slope)
	}
	if pass > c.hi { // nothing reached the target: the best tried is a lower bound
		return c.hi, tried[fail], nil
	}
	return pass, tried[pass], nil
}

// next chooses the next quality to try after q. With a passing and a
// failing quality tried, it interpolates between them; before that it steps
// by the score missing (or to spare) over the slope, measured against the
// nearest other trial when that gives a sensible one. The step is at least
// one quality and stays strictly inside (fail, pass).
func next(tried map[int]float64, q int, target float64, pass, fail int, slope float64) int {
	v := tried[q]
	var n int
	if sp, ok := tried[pass]; ok {
		if sf, ok := tried[fail]; ok && sp > sf {
			n = fail + int(math.Ceil((target-sf)/(sp-sf)*float64(pass-fail)))
			return clamp(n, fail+1, pass-1)
		}
	}
	nearest, found := 0, false
	for other := range tried {
		if d := abs(other - q); other != q && (!found || d < abs(nearest-q) || d == abs(nearest-q) && other < nearest) {
			nearest, found = other, true
		}
	}
	if found {
		if s := (v - tried[nearest]) / float64(q-nearest); s > 0.1 && s < 5 {
			slope = s
		}
	}
	step := (target - v) / slope
	n = q + max(1, int(math.Ceil(step)))
	if v >= target {
		n = q + min(-1, int(math.Floor(step)))
	}
	if n <= fail || n >= pass {
		n = (pass + fail) / 2
	}
	return n
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }
