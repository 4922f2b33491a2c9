package strip

import (
	"bytes"
	"encoding/binary"
)

// JPEG markers this file distinguishes.
const (
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mAPP0 = 0xE0
	mAPP1 = 0xE1
	mAPP2 = 0xE2
	mAP14 = 0xEE
	mCOM  = 0xFE
)

// JPEG walks the marker segments of the whole file and rebuilds it from the
// segments rendering needs:
//   - APP0 JFIF (not JFXX: its thumbnail shows the uncropped original),
//   - APP2 ICC_PROFILE (colours),
//   - APP14 Adobe (tells decoders how to convert CMYK/YCCK),
//   - the Orientation tag of APP1 Exif, rewritten as a minimal Exif segment in
//     the original's place,
//   - every non-APP, non-COM segment and the entropy-coded data.
//
// Dropped: APP1 Exif (GPS, camera serials, thumbnails) and XMP, APP13
// Photoshop/IPTC, COM, every other APPn, and anything after EOI (Multi-Picture
// and "motion photo" trailers carry their own Exif; the MPF index in APP2 that
// points at them is dropped with them).
func JPEG(data []byte) ([]byte, error) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != mSOI {
		return nil, malformed("jpeg", "no SOI marker")
	}
	out := make([]byte, 0, len(data))
	out = append(out, 0xFF, mSOI)
	pos := 2
	wroteExif := false
	for {
		// Markers may be preceded by any number of 0xFF fill bytes.
		if pos >= len(data) || data[pos] != 0xFF {
			return nil, malformed("jpeg", "expected a marker at offset %d", pos)
		}
		for pos < len(data) && data[pos] == 0xFF {
			pos++
		}
		if pos >= len(data) {
			return nil, malformed("jpeg", "file ends inside a marker")
		}
		m := data[pos]
		pos++
		switch {
		case m == mEOI:
			return append(out, 0xFF, mEOI), nil
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			// Stand-alone markers (TEM, RSTn) have no length.
			out = append(out, 0xFF, m)
			continue
		}
		if pos+2 > len(data) {
			return nil, malformed("jpeg", "file ends inside the length of marker 0x%02X", m)
		}
		n := int(binary.BigEndian.Uint16(data[pos:]))
		if n < 2 || pos+n > len(data) {
			return nil, malformed("jpeg", "segment 0x%02X at offset %d has length %d beyond the file", m, pos-2, n)
		}
		seg := data[pos-2 : pos+n]
		payload := data[pos+2 : pos+n]
		pos += n
		if keep, replacement := jpegSegment(m, payload); keep {
			out = append(out, seg...)
		} else if replacement != nil && !wroteExif {
			out = appendSegment(out, mAPP1, replacement)
			wroteExif = true
		}
		if m == mSOS {
			end, err := entropyEnd(data, pos)
			if err != nil {
				return nil, err
			}
			out = append(out, data[pos:end]...)
			pos = end
		}
	}
}

// jpegSegment decides about one segment: keep it as is, drop it, or (for Exif
// holding an Orientation) replace its payload.
func jpegSegment(m byte, payload []byte) (keep bool, replacement []byte) {
	switch {
	case m == mAPP0:
		return bytes.HasPrefix(payload, []byte("JFIF\x00")), nil
	case m == mAPP1:
		if rest, ok := bytes.CutPrefix(payload, []byte(exifHeader)); ok {
			if o := orientation(rest); o != 0 {
				return false, append([]byte(exifHeader), minimalEXIF(o)...)
			}
		}
		return false, nil
	case m == mAPP2:
		return bytes.HasPrefix(payload, []byte("ICC_PROFILE\x00")), nil
	case m == mAP14:
		return bytes.HasPrefix(payload, []byte("Adobe")), nil
	case m > mAPP0 && m <= 0xEF, m == mCOM:
		return false, nil
	}
	return true, nil
}

func appendSegment(out []byte, m byte, payload []byte) []byte {
	out = append(out, 0xFF, m)
	out = binary.BigEndian.AppendUint16(out, uint16(len(payload)+2))
	return append(out, payload...)
}

// entropyEnd returns the offset of the first marker after entropy-coded data
// starting at pos: a 0xFF that is neither a stuffed 0xFF00 nor a restart
// marker (which belongs to the data).
func entropyEnd(data []byte, pos int) (int, error) {
	for i := pos; i+1 < len(data); i++ {
		if data[i] != 0xFF {
			continue
		}
		next := data[i+1]
		if next == 0x00 || next == 0xFF || (next >= 0xD0 && next <= 0xD7) {
			continue
		}
		return i, nil
	}
	return 0, malformed("jpeg", "file ends inside entropy-coded data (no EOI)")
}
