package pipeline

import (
	"encoding/binary"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// tiffHeader is a little-endian TIFF whose first IFD holds the given SHORT
// tags.
func tiffHeader(tags map[uint16]uint16) []byte {
	b := []byte("II*\x00\x08\x00\x00\x00")
	b = binary.LittleEndian.AppendUint16(b, uint16(len(tags)))
	for _, tag := range []uint16{256, 257, 258, 277, 278, 322, 323} {
		if v, ok := tags[tag]; ok {
			b = binary.LittleEndian.AppendUint16(b, tag)
			b = binary.LittleEndian.AppendUint16(b, 3) // SHORT
			b = binary.LittleEndian.AppendUint32(b, 1)
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		}
	}
	return binary.LittleEndian.AppendUint32(b, 0)
}

// TestWholeImageBuffer: the memory a decoder takes outside ImageMagick's
// accounting, from what the header declares.
func TestWholeImageBuffer(t *testing.T) {
	png := func(interlace, depth, colourType byte) []byte {
		b := make([]byte, 33)
		copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
		b[24], b[25], b[28] = depth, colourType, interlace
		return b
	}
	const pixels = 1000 * 1000
	for _, tc := range []struct {
		name string
		f    outcome.Format
		in   []byte
		want int64
	}{
		{"webp: RGBA", outcome.WebP, nil, 4 * pixels},
		{"heic: RGBA and its planes", outcome.HEIC, nil, 6 * pixels},
		{"png: rows as they come", outcome.PNG, png(0, 8, 6), 0},
		{"interlaced png: every pass at once", outcome.PNG, png(1, 16, 2), 6 * pixels},
		{"jpeg: rows as they come", outcome.JPEG, nil, 0},
		{"tiff in one strip", outcome.TIFF, tiffHeader(map[uint16]uint16{256: 1000, 257: 1000, 258: 8, 277: 4}), 4 * pixels},
		{"tiff in strips of 16 rows", outcome.TIFF, tiffHeader(map[uint16]uint16{256: 1000, 257: 1000, 258: 8, 277: 3, 278: 16}), 3 * 1000 * 16},
		{"tiff in 256-pixel tiles", outcome.TIFF, tiffHeader(map[uint16]uint16{256: 1000, 257: 1000, 258: 16, 277: 3, 322: 256, 323: 256}), 2 * 3 * 256 * 256},
		{"tiff without a header", outcome.TIFF, []byte("II*\x00"), 0},
	} {
		j := &job{inFmt: tc.f, in: tc.in}
		if got := wholeImageBuffer(j, pixels); got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, got, tc.want)
		}
	}
}
