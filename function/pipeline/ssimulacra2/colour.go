package ssimulacra2

import (
	"image"
	"image/color"
	"math"
)

// source reads an image's pixels as non-premultiplied 16-bit RGBA, with fast
// paths for the types decoders and the pipeline produce.
type source struct {
	img  image.Image
	w, h int
}

func newSource(img image.Image) source {
	b := img.Bounds()
	return source{img: img, w: b.Dx(), h: b.Dy()}
}

// translucent reports whether any pixel is not fully opaque (every image
// type of the standard library can tell).
func (s source) translucent() bool {
	o, ok := s.img.(interface{ Opaque() bool })
	return !ok || !o.Opaque()
}

// linearImage is an image in linear sRGB, alpha already blended.
type linearImage struct {
	w, h       int
	rgb        planes
	background float32
}

// linear converts the pixels to linear sRGB, blending transparent pixels
// onto background (an encoded value: the tool blends before linearising).
func (s source) linear(background float32) *linearImage {
	lin := &linearImage{w: s.w, h: s.h, rgb: newPlanes(s.w, s.h), background: background}
	r, g, b := lin.rgb[0], lin.rgb[1], lin.rgb[2]
	switch m := s.img.(type) {
	case *image.NRGBA:
		linear8(lin, m.Pix, m.Stride, false)
	case *image.RGBA:
		linear8(lin, m.Pix, m.Stride, true)
	case *image.YCbCr: // what image/jpeg decodes to
		for y := range s.h {
			out := y * s.w
			for x := range s.w {
				yi, ci := m.YOffset(m.Rect.Min.X+x, m.Rect.Min.Y+y), m.COffset(m.Rect.Min.X+x, m.Rect.Min.Y+y)
				cr, cg, cb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				r[out+x], g[out+x], b[out+x] = srgb8[cr], srgb8[cg], srgb8[cb]
			}
		}
	case *image.Gray:
		for y := range s.h {
			row := m.Pix[y*m.Stride : y*m.Stride+s.w]
			out := y * s.w
			for x, v := range row {
				l := srgb8[v]
				r[out+x], g[out+x], b[out+x] = l, l, l
			}
		}
	default:
		bounds := s.img.Bounds()
		for y := range s.h {
			for x := range s.w {
				c := color.NRGBA64Model.Convert(s.img.At(bounds.Min.X+x, bounds.Min.Y+y)).(color.NRGBA64)
				a := float32(c.A) * unit16
				i := y*s.w + x
				r[i] = toLinear(blend(float32(c.R)*unit16, a, background))
				g[i] = toLinear(blend(float32(c.G)*unit16, a, background))
				b[i] = toLinear(blend(float32(c.B)*unit16, a, background))
			}
		}
	}
	return lin
}

// Sample scales, as the tool converts integers to float.
const (
	unit8  = float32(1) / 255
	unit16 = float32(1) / 65535
)

// linear8 converts 8-bit RGBA rows (alpha premultiplied or not).
func linear8(lin *linearImage, pix []uint8, stride int, premultiplied bool) {
	r, g, b, bg := lin.rgb[0], lin.rgb[1], lin.rgb[2], lin.background
	for y := range lin.h {
		row := pix[y*stride : y*stride+4*lin.w]
		out := y * lin.w
		for x := range lin.w {
			p := row[4*x : 4*x+4 : 4*x+4]
			if p[3] == 255 {
				r[out+x], g[out+x], b[out+x] = srgb8[p[0]], srgb8[p[1]], srgb8[p[2]]
				continue
			}
			a := float32(p[3]) * unit8
			for c, dst := range [3][]float32{r, g, b} {
				v := float32(p[c]) * unit8
				if premultiplied {
					// The blend a*v + (1-a)*bg with a*v already done.
					dst[out+x] = toLinear(v + (1-a)*bg)
				} else {
					dst[out+x] = toLinear(blend(v, a, bg))
				}
			}
		}
	}
}

func blend(v, alpha, background float32) float32 {
	return alpha*v + (1-alpha)*background
}

// toLinear is the sRGB transfer function, encoded 0..1 to linear 0..1, as
// the tool evaluates it: a rational polynomial fitted to the curve.
func toLinear(v float32) float32 {
	if v <= 0.04045 {
		return v * (1 / float32(12.92))
	}
	p := fma32(fma32(fma32(fma32(8.210152774e-01, v, 7.961564959e-01), v, 1.624820318e-01), v, 1.043637593e-02), v, 2.200248328e-04)
	q := fma32(fma32(fma32(fma32(6.521209011e-03, v, -5.512498495e-02), v, 4.987528350e-01), v, 1.076976492e+00), v, 2.631846970e-01)
	return p / q
}

// srgb8 is toLinear for every 8-bit value.
var srgb8 = func() (t [256]float32) {
	for i := range t {
		t[i] = toLinear(float32(i) * unit8)
	}
	return t
}()

// half downsamples by 2 in each direction, averaging 2x2 blocks in linear
// light; an odd last row or column is averaged with itself.
func (l *linearImage) half() *linearImage {
	w, h := (l.w+1)/2, (l.h+1)/2
	out := &linearImage{w: w, h: h, rgb: newPlanes(w, h), background: l.background}
	for c := range 3 {
		in, dst := l.rgb[c], out.rgb[c]
		for oy := range h {
			y0, y1 := 2*oy, min(2*oy+1, l.h-1)
			r0, r1 := in[y0*l.w:(y0+1)*l.w], in[y1*l.w:(y1+1)*l.w]
			row := dst[oy*w : (oy+1)*w]
			for ox := range row {
				x0, x1 := 2*ox, min(2*ox+1, l.w-1)
				row[ox] = (r0[x0] + r0[x1] + r1[x0] + r1[x1]) * 0.25
			}
		}
	}
	return out
}

// The opsin absorbance matrix and bias of JPEG XL's XYB colour space.
var (
	opsin = [3][3]float32{
		{0.30, 1 - 0.078 - 0.30, 0.078},
		{0.23, 1 - 0.078 - 0.23, 0.078},
		{0.24342268924547819, 0.20476744424496821, 1 - 0.24342268924547819 - 0.20476744424496821},
	}
	opsinBias        = float32(0.0037930732552754493)
	opsinBiasCbrtNeg = -float32(math.Cbrt(float64(opsinBias)))
)

// xyb converts to XYB and rescales it the way SSIMULACRA 2 does, to about
// 0..1 with B replaced by B-Y, so a pixel difference never exceeds 1.
// Without withB, the B plane is left zero (it costs a third cube root).
func (l *linearImage) xyb(withB bool) planes {
	out := newPlanes(l.w, l.h)
	r, g, b := l.rgb[0], l.rgb[1], l.rgb[2]
	g, b = g[:len(r)], b[:len(r)]
	ox, oy, ob := out[0][:len(r)], out[1][:len(r)], out[2][:len(r)]
	for i := range r {
		m0 := mix(&opsin[0], r[i], g[i], b[i])
		m1 := mix(&opsin[1], r[i], g[i], b[i])
		x := 0.5 * (m0 - m1)
		y := 0.5 * (m0 + m1)
		ox[i] = float32(x*14) + 0.42
		oy[i] = y + 0.01
		if withB {
			ob[i] = (mix(&opsin[2], r[i], g[i], b[i]) - y) + 0.55
		}
	}
	return out
}

// mix is one row of the opsin absorbance, clamped at 0 and compressed by a
// cube root (offset so that black maps to 0).
func mix(m *[3]float32, r, g, b float32) float32 {
	v := fma32(m[0], r, fma32(m[1], g, fma32(m[2], b, opsinBias)))
	if v < 0 {
		v = 0
	}
	return cbrt(v, opsinBiasCbrtNeg)
}

// cbrt returns the cube root of v (>= 0) plus add, computed as the tool
// does: Newton steps for v^(-1/3) from a guess made of v's exponent, then
// v * (v^(-1/3))^2. The conversions keep products unfused where the tool's
// are (Go may fuse a*b+c on some CPUs).
func cbrt(v, add float32) float32 {
	bits := math.Float32bits(v)
	if bits == 0 {
		return add
	}
	const third, fourThirds = float32(1.0 / 3), float32(4.0 / 3)
	r := math.Float32frombits(uint32(0x54800000 - int32(bits>>23)*0x002AAAAA))
	v3 := third * v
	for range 3 {
		r2 := r * r
		r = fma32(-v3, float32(r2*r2), float32(fourThirds*r))
	}
	r2 := r * r
	r = fma32(third, fma32(-v, float32(r2*r2), r), r)
	return fma32(float32(r*r), v, add)
}
