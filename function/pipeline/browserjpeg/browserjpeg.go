// Package browserjpeg decodes JPEG to the pixels browsers show: Go's
// decoder for the samples, then libjpeg-turbo's "fancy" chroma upsampling
// (a triangle filter, 3/4 of the nearer chroma sample and 1/4 of the
// farther in each subsampled direction) and its integer YCbCr to RGB
// conversion, rounding as it does. Browsers decode with libjpeg-turbo; the
// pipeline's ImageMagick may link jpegli, whose decoder dequantizes to the
// expected value of each quantization interval and so shows a smoother
// image than any browser does (the SSIMULACRA2 tool scores a Q73 photo's
// jpegli decode 87 against its libjpeg-turbo decode), and Go's own
// conversion repeats each chroma sample (3 points too high on a JPEG's
// score against its original).
package browserjpeg

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
)

// ErrColourModel: CMYK and Adobe RGB JPEGs are left to other decoders.
var ErrColourModel = errors.New("browserjpeg: neither YCbCr nor greyscale")

// Image is a decoded JPEG, converted to RGB (or grey) rows on demand so that
// a caller can move a large image in bands.
type Image struct {
	ycc  *image.YCbCr
	gray *image.Gray
	// hs, vs are the chroma subsampling factors (1 or 2) that get fancy
	// upsampling; other layouts (4:1:1) repeat samples, as libjpeg-turbo's
	// generic upsampler does.
	hs, vs int
	fancy  bool
}

// Decode decodes data. It fails with ErrColourModel for CMYK and RGB JPEGs.
func Decode(data []byte) (*Image, error) {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	switch m := img.(type) {
	case *image.Gray:
		return &Image{gray: m}, nil
	case *image.YCbCr:
		im := &Image{ycc: m, hs: 1, vs: 1}
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio420:
			im.hs, im.vs = 2, 2
		case image.YCbCrSubsampleRatio422:
			im.hs = 2
		case image.YCbCrSubsampleRatio440:
			im.vs = 2
		case image.YCbCrSubsampleRatio444:
		default:
			return im, nil
		}
		// libjpeg-turbo upsamples a chroma row of up to 2 samples plainly.
		im.fancy = im.hs == 1 || (m.Rect.Dx()+1)/2 > 2
		return im, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrColourModel, img)
}

// Bounds are the image's.
func (im *Image) Bounds() image.Rectangle {
	if im.gray != nil {
		return im.gray.Rect
	}
	return im.ycc.Rect
}

// Channels is 1 for a greyscale JPEG, else 3 (RGB).
func (im *Image) Channels() int {
	if im.gray != nil {
		return 1
	}
	return 3
}

// Rows appends rows y0..y1-1 to dst, Channels() bytes per pixel.
func (im *Image) Rows(dst []byte, y0, y1 int) []byte {
	w := im.Bounds().Dx()
	if im.gray != nil {
		for y := y0; y < y1; y++ {
			dst = append(dst, im.gray.Pix[y*im.gray.Stride:][:w]...)
		}
		return dst
	}
	cb, cr := make([]byte, w), make([]byte, w)
	sums := make([]int, (w+im.hs-1)/im.hs)
	for y := y0; y < y1; y++ {
		im.chromaRow(cb, im.ycc.Cb, sums, y)
		im.chromaRow(cr, im.ycc.Cr, sums, y)
		luma := im.ycc.Y[y*im.ycc.YStride:]
		for x := range w {
			r, g, b := toRGB(luma[x], cb[x], cr[x])
			dst = append(dst, r, g, b)
		}
	}
	return dst
}

// NRGBA is the whole image as opaque RGBA.
func (im *Image) NRGBA() *image.NRGBA {
	b := im.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	n := im.Channels()
	row := make([]byte, 0, n*b.Dx())
	for y := range b.Dy() {
		row = im.Rows(row[:0], y, y+1)
		px := out.Pix[y*out.Stride:]
		for x := range b.Dx() {
			c := row[n*x : n*x+n]
			px[4*x], px[4*x+1], px[4*x+2], px[4*x+3] = c[0], c[n/2], c[n-1], 255
		}
	}
	return out
}

// chromaRow writes one image row's worth of upsampled chroma from plane p,
// using sums (one per chroma column) as scratch.
func (im *Image) chromaRow(dst, p []byte, sums []int, y int) {
	m := im.ycc
	if !im.fancy || (im.hs == 1 && im.vs == 1) {
		for x := range dst {
			dst[x] = p[m.COffset(x, y)]
		}
		return
	}
	ch := (m.Rect.Dy() + im.vs - 1) / im.vs
	// The vertical pass: the nearer chroma row 3/4, the farther 1/4 (the
	// row above for the upper of two image rows, below for the lower).
	if im.vs == 2 {
		cy, far, bias := y/2, max(y/2-1, 0), 1
		if y%2 == 1 {
			far, bias = min(cy+1, ch-1), 2
		}
		near := p[cy*m.CStride:][:len(sums)]
		farRow := p[far*m.CStride:][:len(sums)]
		for i := range sums {
			sums[i] = 3*int(near[i]) + int(farRow[i])
		}
		if im.hs == 1 { // 4:4:0
			for x := range dst {
				dst[x] = byte((sums[x] + bias) >> 2)
			}
			return
		}
	} else {
		for i, c := range p[y*m.CStride:][:len(sums)] {
			sums[i] = int(c)
		}
	}
	// The horizontal pass, with the left neighbour for even columns and the
	// right for odd ones; after both passes the sum is 16 times the value.
	shift, even, odd := 2, 1, 2 // 4:2:2
	if im.vs == 2 {
		shift, even, odd = 4, 8, 7
	}
	last := len(sums) - 1
	for x := range dst {
		cx := x / 2
		if x%2 == 0 {
			dst[x] = byte((3*sums[cx] + sums[max(cx-1, 0)] + even) >> shift)
		} else {
			dst[x] = byte((3*sums[cx] + sums[min(cx+1, last)] + odd) >> shift)
		}
	}
}

// toRGB is libjpeg-turbo's YCbCr to RGB: 16-bit fixed point, rounded once.
func toRGB(y, cb, cr byte) (r, g, b byte) {
	Y, Cb, Cr := int32(y), int32(cb)-128, int32(cr)-128
	const half = 1 << 15
	return clip(Y + (91881*Cr+half)>>16),
		clip(Y + (-22554*Cb-46802*Cr+half)>>16),
		clip(Y + (116130*Cb+half)>>16)
}

func clip(v int32) byte { return byte(min(max(v, 0), 255)) }
