package pipeline

import (
	"encoding/binary"
	"runtime/debug"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/browserjpeg"
)

// browserPixelsMaxHeap bounds the Go heap that re-decoding a JPEG may take
// (its planes, and for a progressive JPEG its coefficients): a 12 MP
// baseline photo takes 18 MB at 4:2:0, a progressive one 90 MB. The 256 MB
// run (make lambda) peaked at 210 MB on the largest JPEG the limits allow,
// decoded once; this keeps the second decode to photos of up to about 21 MP
// (baseline, 4:2:0), whose own pixels leave room for it.
const browserPixelsMaxHeap = 32 << 20

// browserPixels replaces a JPEG's decoded pixels by what browsers show of
// it (package browserjpeg): the outputs are made, and the quality search
// scores them, against the image people saw, not against the smoother one
// that a jpegli decoder makes of the same file. It leaves ImageMagick's
// pixels where the JPEG was scaled while decoding (the resize that follows
// smooths anyway), for CMYK and RGB JPEGs, and where the re-decode would
// take more memory than browserPixelsMaxHeap.
func browserPixels(j *job) error {
	if j.inFmt != outcome.JPEG || j.frames != 1 || j.scaled {
		return nil
	}
	w, h := int(j.mw.GetImageWidth()), int(j.mw.GetImageHeight())
	if heap, ok := jpegDecodeHeap(j.decoded); !ok || heap > browserPixelsMaxHeap {
		return nil
	}
	im, err := browserjpeg.Decode(j.decoded)
	if err != nil || im.Bounds().Dx() != w || im.Bounds().Dy() != h {
		return nil // ImageMagick read it; its pixels stay
	}
	defer debug.FreeOSMemory() // the planes, before the outputs' encoders allocate in C
	channels := "RGB"
	if im.Channels() == 1 {
		channels = "I"
	}
	if grey := j.mw.GetImageColorspace() == imagick.COLORSPACE_GRAY; grey != (im.Channels() == 1) {
		return nil
	}
	const band = 64
	rows := make([]byte, 0, band*w*im.Channels())
	for y := 0; y < h; y += band {
		n := min(band, h-y)
		rows = im.Rows(rows[:0], y, y+n)
		if err := j.mw.ImportImagePixels(0, y, uint(w), uint(n), channels, imagick.PIXEL_CHAR, rows); err != nil {
			return j.classify("decode jpeg as browsers do", err)
		}
	}
	return nil
}

// jpegDecodeHeap estimates the bytes Go's JPEG decoder allocates for data
// from its frame header: a byte per sample of every component (padded to
// whole blocks), and 4 bytes more per sample for a progressive JPEG's
// coefficients. ok is false when no frame header is found.
func jpegDecodeHeap(data []byte) (bytes int64, ok bool) {
	for pos := 2; pos+4 <= len(data) && data[pos] == 0xff; {
		marker, n := data[pos+1], int(binary.BigEndian.Uint16(data[pos+2:]))
		switch {
		case marker == 0xda || n < 2:
			return 0, false
		case marker == 0xc0 || marker == 0xc1 || marker == 0xc2:
			sof := data[pos+4 : min(len(data), pos+2+n)]
			if len(sof) < 6 || len(sof) < 6+3*int(sof[5]) {
				return 0, false
			}
			h, w := int64(binary.BigEndian.Uint16(sof[1:])), int64(binary.BigEndian.Uint16(sof[3:]))
			comps := sof[6 : 6+3*int(sof[5])]
			hmax, vmax := int64(1), int64(1)
			for c := 0; c < len(comps); c += 3 {
				hmax, vmax = max(hmax, int64(comps[c+1]>>4)), max(vmax, int64(comps[c+1]&15))
			}
			for c := 0; c < len(comps); c += 3 {
				hs, vs := int64(comps[c+1]>>4), int64(comps[c+1]&15)
				bw, bh := (w*hs/hmax+7)/8+1, (h*vs/vmax+7)/8+1
				bytes += 64 * bw * bh
			}
			if marker == 0xc2 {
				bytes *= 5
			}
			return bytes, true
		}
		pos += 2 + n
	}
	return 0, false
}
