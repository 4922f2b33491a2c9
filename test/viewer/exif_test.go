package viewer_test

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/test/viewer"
)

// testJPEG encodes a w×h gradient; with orientation > 0 it carries an EXIF
// segment (byte order order) with that orientation tag.
func testJPEG(t *testing.T, w, h int, order binary.ByteOrder, orientation uint16) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(255 * x / w), uint8(255 * y / h), 128, 255})
		}
	}
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	if orientation == 0 {
		return plain.Bytes()
	}
	return withSegment(plain.Bytes(), 0xE1, append([]byte("Exif\x00\x00"), tiffWithOrientation(order, orientation)...))
}

// tiffWithOrientation is a TIFF header and an IFD0 of two entries, the
// orientation second, as cameras write it after other tags.
func tiffWithOrientation(order binary.ByteOrder, orientation uint16) []byte {
	var b bytes.Buffer
	if order == binary.LittleEndian {
		b.WriteString("II*\x00")
	} else {
		b.WriteString("MM\x00*")
	}
	put := func(v any) { _ = binary.Write(&b, order, v) }
	put(uint32(8)) // IFD0 right after the header
	put(uint16(2))
	put([4]uint16{0x010F, 2, 0, 0}) // Make, ASCII, count 0: a tag before the one wanted
	put(uint32(0))
	put([2]uint16{0x0112, 3}) // Orientation, SHORT
	put(uint32(1))
	put([2]uint16{orientation, 0})
	put(uint32(0)) // no next IFD
	return b.Bytes()
}

// withSegment inserts an APPn segment right after the JPEG's SOI marker.
func withSegment(jpegBytes []byte, marker byte, payload []byte) []byte {
	seg := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpegBytes[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpegBytes[2:]...)
}

func TestJPEGOrientation(t *testing.T) {
	plain := testJPEG(t, 8, 4, nil, 0)
	little := testJPEG(t, 8, 4, binary.LittleEndian, 6)
	jfifFirst := withSegment(testJPEG(t, 8, 4, binary.BigEndian, 8), 0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"little-endian EXIF", little, 6},
		{"big-endian EXIF after a JFIF segment", jfifFirst, 8},
		{"no EXIF", plain, 0},
		{"orientation out of range", testJPEG(t, 8, 4, binary.LittleEndian, 9), 0},
		{"EXIF segment cut short", little[:30], 0},
		{"not a JPEG", []byte("\x89PNG\r\n\x1a\n"), 0},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		if got := viewer.JPEGOrientation(tt.data); got != tt.want {
			t.Errorf("%s: orientation %d, want %d", tt.name, got, tt.want)
		}
	}
}
