package strip

import "encoding/binary"

// exifHeader starts the payload of an APP1 segment (JPEG) or a WebP/PNG EXIF
// chunk's TIFF structure in JPEG's case.
const exifHeader = "Exif\x00\x00"

const tagOrientation = 0x0112

// orientation returns the Orientation tag (1..8) of IFD0 of a TIFF-structured
// EXIF block (without the "Exif\0\0" prefix), or 0 when there is none or the
// block cannot be read.
func orientation(tiff []byte) uint16 {
	if len(tiff) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(tiff[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0
	}
	ifd := int(bo.Uint32(tiff[4:8]))
	if ifd < 8 || ifd+2 > len(tiff) {
		return 0
	}
	n := int(bo.Uint16(tiff[ifd:]))
	for i := range n {
		e := ifd + 2 + 12*i
		if e+12 > len(tiff) {
			return 0
		}
		// SHORT (type 3), count 1: the value sits in the first two bytes of the offset field.
		if bo.Uint16(tiff[e:]) == tagOrientation && bo.Uint16(tiff[e+2:]) == 3 && bo.Uint32(tiff[e+4:]) == 1 {
			if v := bo.Uint16(tiff[e+8:]); v >= 1 && v <= 8 {
				return v
			}
			return 0
		}
	}
	return 0
}

// minimalEXIF is a TIFF-structured EXIF block whose IFD0 holds only the
// Orientation tag: big-endian header, one 12-byte entry, no next IFD.
func minimalEXIF(o uint16) []byte {
	b := []byte{
		'M', 'M', 0, 42, 0, 0, 0, 8, // header, IFD0 at offset 8
		0, 1, // one entry
		0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, // Orientation, SHORT, count 1, value below
		0, 0, 0, 0, // no next IFD
	}
	binary.BigEndian.PutUint16(b[18:], o)
	return b
}

// Orientation is the Orientation tag (1..8) of a TIFF-structured EXIF block
// (without the "Exif\0\0" prefix), 0 when there is none: what a browser
// applies when it shows the image (the local viewer reads it).
func Orientation(tiff []byte) int { return int(orientation(tiff)) }
