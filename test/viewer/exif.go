package viewer

import (
	"bytes"
	"encoding/binary"

	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/strip"
)

// jpegOrientation returns the EXIF orientation tag (1–8) of a JPEG from its
// first bytes, or 0 when there is none. Browsers turn such images when they
// show them, so the page needs it to tell a turned photo from a resized one.
func jpegOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 0
	}
	for i := 2; i+4 <= len(b) && b[i] == 0xFF; {
		marker, size := b[i+1], int(binary.BigEndian.Uint16(b[i+2:]))
		if marker == 0xDA || size < 2 || i+2+size > len(b) { // image data, or a broken or cut segment
			return 0
		}
		if exif, ok := bytes.CutPrefix(b[i+4:i+2+size], []byte("Exif\x00\x00")); ok && marker == 0xE1 {
			return strip.Orientation(exif)
		}
		i += 2 + size
	}
	return 0
}
