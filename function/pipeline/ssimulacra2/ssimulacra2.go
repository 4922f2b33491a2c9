// Package ssimulacra2 computes SSIMULACRA 2, the perceptual image metric of
// the JPEG XL project (Jon Sneyers, Cloudinary, 2022-2023), in pure Go, so
// the pipeline can judge its own lossy outputs in-process: 100 means
// identical, 90 indistinguishable at 1:1, 70 high quality, 50 medium.
//
// It follows the published algorithm of libjxl's tools/ssimulacra2 (0.11):
// both images in linear sRGB, six scales (1:1 to 1:32, halved by a 2x2 box
// in linear light), at each scale the XYB colour space rescaled to about
// 0..1, an SSIM map without SSIM's luminance denominator and two edge maps
// (ringing: edges in the distorted image that the original lacks; blurring:
// the reverse), each pooled by its mean and its 4-norm, and a weighted sum of
// the 108 norms mapped to the score. The arithmetic is the tool's, down to
// its float32 rounding and fused multiply-adds, because the SSIM terms at
// coarse scales are differences of nearly equal numbers: scores agree with
// the tool within 0.01 (the package tests check it), not just roughly.
//
// Images with transparency are blended (in their encoded values) onto a dark
// and a bright background and the worse score counts, as the tool does.
// Pixels are read as sRGB: colour profiles are not applied, which matters
// only when the two images carry different ones.
package ssimulacra2

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// MinSize is the smallest width and height the metric accepts.
const MinSize = 8

const (
	numScales = 6
	// c2 is SSIM's stabilising constant of the structure term.
	c2 = 0.0009
)

// Score compares dist with orig, which must have the same size.
func Score(orig, dist image.Image) (float64, error) {
	ref, err := NewReference(orig)
	if err != nil {
		return 0, err
	}
	return ref.Score(dist)
}

// Reference is an original prepared once for many comparisons (a quality
// search compares one original with several encodes): its XYB planes, their
// blurs and blurred squares at every scale.
type Reference struct {
	width, height int
	plan          plan
	// pooled, per scale, says which pixels count (nil: all); see
	// NewMosaicReference.
	pooled [numScales][]bool
	// sides holds one pyramid per background: one for an opaque original,
	// two (dark, bright) for one with transparency.
	sides []*pyramid
}

// Backgrounds for transparent images, in encoded (not linear) values.
var (
	opaqueBackground  = []float32{0.5}
	alphaBackgrounds  = []float32{0.1, 0.9}
	errDifferentSizes = errors.New("ssimulacra2: images differ in size")
)

// NewReference prepares orig, which must be at least MinSize on each side.
func NewReference(orig image.Image) (*Reference, error) {
	return newReference(orig, 0)
}

// NewMosaicReference prepares a mosaic: square cells of cell x cell pixels
// cut from a larger image and laid side by side, to estimate that image's
// score from a sample. Pixels next to the seams between cells are left out
// of the norms at each scale where the cells are large enough: their blur
// windows reach into an unrelated cell, where both images have the same
// sharp seam, which would dilute the errors.
func NewMosaicReference(mosaic image.Image, cell int) (*Reference, error) {
	if cell < MinSize {
		return nil, fmt.Errorf("ssimulacra2: mosaic cells of %d pixels are smaller than %d", cell, MinSize)
	}
	return newReference(mosaic, cell)
}

// seamMargin is how far from a seam pixels are left out: two blur sigmas.
const seamMargin = 3

func newReference(orig image.Image, cell int) (*Reference, error) {
	w, h := orig.Bounds().Dx(), orig.Bounds().Dy()
	if w < MinSize || h < MinSize {
		return nil, fmt.Errorf("ssimulacra2: %dx%d is smaller than the minimum %dx%d", w, h, MinSize, MinSize)
	}
	src := newSource(orig)
	backgrounds := opaqueBackground
	if src.translucent() {
		backgrounds = alphaBackgrounds
	}
	r := &Reference{width: w, height: h, plan: newPlan(scalesFor(w, h))}
	if cell > 0 {
		sw, sh := w, h
		for scale := range r.plan.scales {
			if c := cell >> scale; c-2*seamMargin >= MinSize/2 {
				r.pooled[scale] = awayFromSeams(sw, sh, c)
			}
			sw, sh = (sw+1)/2, (sh+1)/2
		}
	}
	for _, bg := range backgrounds {
		r.sides = append(r.sides, newPyramid(src.linear(bg), &r.plan))
	}
	return r, nil
}

// awayFromSeams marks the pixels of a w x h image at least seamMargin from
// the borders of its cell x cell cells.
func awayFromSeams(w, h, cell int) []bool {
	m := make([]bool, w*h)
	inside := func(v int) bool { v %= cell; return v >= seamMargin && v < cell-seamMargin }
	for y := range h {
		if !inside(y) {
			continue
		}
		for x := range w {
			m[y*w+x] = inside(x)
		}
	}
	return m
}

// scalesFor is how many scales the tool computes for a w x h image: scale 0
// is the image itself, and each further scale is computed while the one
// before it is at least MinSize on each side.
func scalesFor(w, h int) int {
	n := 1
	for n < numScales && w >= MinSize && h >= MinSize { // w x h: scale n-1
		n++
		w, h = (w+1)/2, (h+1)/2
	}
	return n
}

// Score compares dist with the reference.
func (r *Reference) Score(dist image.Image) (float64, error) {
	return ScoreTiles([]*Reference{r}, []image.Image{dist})
}

// ScoreTiles scores several regions of one image as if they were one: every
// tile is compared with its reference and the norms are pooled over the
// pixels of all tiles at each scale. A search on a sample of tiles thus
// estimates the whole image's score without computing it at full size.
// The references must have the same number of scales and the same
// transparency (tiles of one size from one image do).
func ScoreTiles(refs []*Reference, dists []image.Image) (float64, error) {
	if len(refs) == 0 || len(refs) != len(dists) {
		return 0, fmt.Errorf("ssimulacra2: %d references for %d images", len(refs), len(dists))
	}
	first := refs[0]
	pooled := make([]pool, len(first.sides))
	for i, ref := range refs {
		b := dists[i].Bounds()
		if b.Dx() != ref.width || b.Dy() != ref.height {
			return 0, fmt.Errorf("%w: %dx%d against %dx%d", errDifferentSizes, b.Dx(), b.Dy(), ref.width, ref.height)
		}
		if len(ref.sides) != len(first.sides) || ref.plan.scales != first.plan.scales {
			return 0, errors.New("ssimulacra2: tiles differ in transparency or number of scales")
		}
		src := newSource(dists[i])
		for s, side := range ref.sides {
			side.compare(src.linear(side.background), ref, &pooled[s])
		}
	}
	score := math.Inf(1)
	for _, p := range pooled {
		score = math.Min(score, p.score(&first.plan))
	}
	return score, nil
}

// negligibleWeight: norms weighted less than this are not computed. Of the
// 108 weights, 56 are zero and 27 are at most 0.0021 (0.02 together); the
// 25 others range from 0.285 to 225. Skipping the small ones leaves whole
// maps out (at 1:1 only luma counts), which halves the work and moves scores
// by less than 0.002 in the package tests.
const negligibleWeight = 0.01

// plan says which maps a comparison computes: per scale and channel, the
// SSIM map (which needs three more blurs) and the edge maps.
type plan struct {
	scales     int
	ssim, edge [numScales][3]bool
}

func newPlan(scales int) plan {
	p := plan{scales: scales}
	for c := range 3 {
		for s := range scales {
			w := weights[(c*scales+s)*6:][:6]
			p.ssim[s][c] = w[0] >= negligibleWeight || w[3] >= negligibleWeight
			p.edge[s][c] = w[1] >= negligibleWeight || w[2] >= negligibleWeight ||
				w[4] >= negligibleWeight || w[5] >= negligibleWeight
		}
	}
	return p
}

// any reports whether channel c is needed at scale s.
func (p *plan) any(s, c int) bool { return p.ssim[s][c] || p.edge[s][c] }

// pyramid is one original's planes at each scale.
type pyramid struct {
	background float32
	scales     []refScale
}

// refScale holds, at one scale, the original's XYB planes, their blur and
// the blur of their squares (planes a plan does not need are nil).
type refScale struct {
	w, h           int
	xyb, mu, sigma planes
}

func newPyramid(lin *linearImage, pl *plan) *pyramid {
	p := &pyramid{background: lin.background}
	for scale := range pl.scales {
		if scale > 0 {
			lin = lin.half()
		}
		s := refScale{w: lin.w, h: lin.h, xyb: lin.xyb(pl.any(scale, 2))}
		bl := newBlurrer(lin.w, lin.h)
		sq := make([]float32, lin.w*lin.h)
		for c := range 3 {
			if !pl.any(scale, c) {
				continue
			}
			s.mu[c] = bl.blur(s.xyb[c], nil)
			if pl.ssim[scale][c] {
				multiply(sq, s.xyb[c], s.xyb[c])
				s.sigma[c] = bl.blur(sq, nil)
			}
		}
		p.scales = append(p.scales, s)
	}
	return p
}

// compare adds the norms of dist (linear RGB, same size) against p to acc.
func (p *pyramid) compare(lin *linearImage, r *Reference, acc *pool) {
	pl := &r.plan
	for scale, ref := range p.scales {
		if scale > 0 {
			lin = lin.half()
		}
		xyb := lin.xyb(pl.any(scale, 2))
		bl := newBlurrer(ref.w, ref.h)
		tmp := make([]float32, ref.w*ref.h)
		var mu2, s22, s12 []float32
		n := &acc.sums[scale]
		mask := r.pooled[scale]
		for c := range 3 {
			if !pl.any(scale, c) {
				continue
			}
			mu2 = bl.blur(xyb[c], mu2)
			if pl.ssim[scale][c] {
				multiply(tmp, xyb[c], xyb[c])
				s22 = bl.blur(tmp, s22)
				multiply(tmp, ref.xyb[c], xyb[c])
				s12 = bl.blur(tmp, s12)
				sum, sum4 := ssimMap(ref.mu[c], mu2, ref.sigma[c], s22, s12, mask)
				n.ssim[c] += sum
				n.ssim4[c] += sum4
			}
			if pl.edge[scale][c] {
				ring, ring4, blur, blur4 := edgeMap(ref.xyb[c], ref.mu[c], xyb[c], mu2, mask)
				n.ring[c] += ring
				n.ring4[c] += ring4
				n.blur[c] += blur
				n.blur4[c] += blur4
			}
		}
		acc.pixels[scale] += count(mask, ref.w*ref.h)
	}
}

// norms are the sums over the pixels of one scale, per channel (X, Y, B):
// of the SSIM error and its 4th power, and of the ringing and blurring
// errors and their 4th powers.
type norms struct {
	ssim, ssim4, ring, ring4, blur, blur4 [3]float64
}

// pool accumulates norms over tiles, per scale.
type pool struct {
	pixels [numScales]int
	sums   [numScales]norms
}

// score combines the pooled norms with the metric's weights. The weights are
// taken in order over the scales that exist: as in the reference tool, an
// image too small for all six scales shifts the later channels' weights.
func (p *pool) score(pl *plan) float64 {
	sum, i := 0.0, 0
	for c := range 3 {
		for scale := range pl.scales {
			n := float64(p.pixels[scale])
			s := p.sums[scale]
			mean := func(v float64) float64 { return v / n }
			norm4 := func(v float64) float64 { return math.Sqrt(math.Sqrt(v / n)) }
			for _, v := range [6]float64{
				mean(s.ssim[c]), mean(s.ring[c]), mean(s.blur[c]),
				norm4(s.ssim4[c]), norm4(s.ring4[c]), norm4(s.blur4[c]),
			} {
				if weights[i] >= negligibleWeight {
					sum += weights[i] * v
				}
				i++
			}
		}
	}
	sum *= 0.9562382616834844
	sum = 2.326765642916932*sum - 0.020884521182843837*sum*sum + 6.248496625763138e-05*sum*sum*sum
	if sum <= 0 {
		return 100
	}
	return 100 - 10*math.Pow(sum, 0.6276336467831387)
}

// weights of the 108 norms, tuned by the metric's author on subjective
// scores (CID22, TID2013, KADID-10k, KonFiG-IQA). One row per channel (X, Y,
// B) and scale (1:1 to 1:32): the means of the SSIM, ringing and blurring
// errors, then their 4-norms.
var weights = [108]float64{
	// X
	0, 0.0007376606707406586, 0, 0, 0.0007793481682867309, 0,
	0, 0.0004371155730107379, 0, 1.1041726426657346, 0.00066284834129271, 0.00015231632783718752,
	0, 0.0016406437456599754, 0, 1.8422455520539298, 11.441172603757666, 0,
	0.0007989109436015163, 0.000176816438078653, 0, 1.8787594979546387, 10.94906990605142, 0,
	0.0007289346991508072, 0.9677937080626833, 0, 0.00014003424285435884, 0.9981766977854967, 0.00031949755934435053,
	0.0004550992113792063, 0, 0, 0.0013648766163243398, 0, 0,
	// Y
	0, 0, 0, 7.466890328078848, 0, 17.445833984131262,
	0.0006235601634041466, 0, 0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
	225.20515300849274, 0, 0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
	176.39317598450694, 0, 0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408,
	0, 0, 0, 34.77906344483772, 44.835625328877896, 0,
	0, 0, 0, 0, 0, 0,
	// B
	0, 0.0008680556573291698, 0, 0, 0, 0,
	0, 0.0005313191874358747, 0, 0.00016533814161379112, 0, 0,
	0, 0, 0, 0.0004179171803251336, 0.0017290828234722833, 0,
	0.0020827005846636437, 0, 0, 8.826982764996862, 23.19243343998926, 0,
	95.1080498811086, 0.9863978034400682, 0.9834382792465353, 0.0012286405048278493, 171.2667255897307, 0.9807858872435379,
	0, 0, 0, 0.0005130064588990679, 0, 0.00010854057858411537,
}

// ssimMap sums the SSIM error 1 - SSIM' of one channel and its 4th power,
// where SSIM' drops the luminance term's denominator: XYB is already
// perceptually uniform, so errors in the darks must not weigh more.
func ssimMap(mu1, mu2, s11, s22, s12 []float32, mask []bool) (sum, sum4 float64) {
	mu2, s11, s22, s12 = mu2[:len(mu1)], s11[:len(mu1)], s22[:len(mu1)], s12[:len(mu1)]
	for i, u1 := range mu1 {
		if mask != nil && !mask[i] {
			continue
		}
		u2 := mu2[i]
		// The conversions keep each product rounded, as in the tool.
		numM := 1 - float32((u1-u2)*(u1-u2))
		numS := 2*(s12[i]-float32(u1*u2)) + c2
		denS := (s11[i] - float32(u1*u1)) + (s22[i] - float32(u2*u2)) + c2
		d := 1 - float64(float32(numM*numS)/denS)
		if d > 0 {
			sum += d
			sum4 += quartic(d)
		}
	}
	return sum, sum4
}

// edgeMap sums how much more (ringing) or less (blurring) local detail dist
// has than orig in one channel, and their 4th powers.
func edgeMap(img1, mu1, img2, mu2 []float32, mask []bool) (ring, ring4, blur, blur4 float64) {
	mu1, img2, mu2 = mu1[:len(img1)], img2[:len(img1)], mu2[:len(img1)]
	for i, v1 := range img1 {
		if mask != nil && !mask[i] {
			continue
		}
		d := (1+math.Abs(float64(img2[i]-mu2[i])))/(1+math.Abs(float64(v1-mu1[i]))) - 1
		if d > 0 {
			ring += d
			ring4 += quartic(d)
		} else {
			blur -= d
			blur4 += quartic(d)
		}
	}
	return ring, ring4, blur, blur4
}

// count is the number of pixels a mask lets through (all n without one).
func count(mask []bool, n int) int {
	if mask == nil {
		return n
	}
	n = 0
	for _, in := range mask {
		if in {
			n++
		}
	}
	return n
}

func quartic(x float64) float64 {
	x *= x
	return x * x
}

// planes are three w*h float planes, row by row.
type planes [3][]float32

func newPlanes(w, h int) planes {
	buf := make([]float32, 3*w*h)
	return planes{buf[:w*h], buf[w*h : 2*w*h], buf[2*w*h:]}
}

func multiply(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = a[i] * b[i]
	}
}
