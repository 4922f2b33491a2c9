package strip

import "bytes"

// GIF block introducers and extension labels.
const (
	gifExtension   = 0x21
	gifImage       = 0x2C
	gifTrailer     = 0x3B
	gifComment     = 0xFE
	gifApplication = 0xFF
)

// gifKeepApps lists the application extensions a GIF keeps: looping
// (NETSCAPE2.0 and its ANIMEXTS1.0 twin) and the ICC profile. XMP and every
// other application extension are dropped.
var gifKeepApps = map[string]bool{
	"NETSCAPE2.0": true, "ANIMEXTS1.0": true, "ICCRGBG1012": true,
}

// GIF copies the header, colour tables, images, graphic control and plain-text
// extensions, drops comment extensions and application extensions other than
// looping and ICC, and drops anything after the trailer.
func GIF(data []byte) ([]byte, error) {
	if len(data) < 13 || !(bytes.HasPrefix(data, []byte("GIF87a")) || bytes.HasPrefix(data, []byte("GIF89a"))) {
		return nil, malformed("gif", "no GIF header")
	}
	pos := 13 + colourTableSize(data[10])
	if pos > len(data) {
		return nil, malformed("gif", "global colour table beyond the file")
	}
	out := make([]byte, 0, len(data))
	out = append(out, data[:pos]...)
	for {
		if pos >= len(data) {
			return nil, malformed("gif", "file ends before the trailer")
		}
		start := pos
		switch data[pos] {
		case gifTrailer:
			return append(out, gifTrailer), nil
		case gifImage:
			if pos+10 > len(data) {
				return nil, malformed("gif", "image descriptor beyond the file")
			}
			// Descriptor, local colour table, LZW minimum code size, data sub-blocks.
			end, err := subBlocksEnd(data, pos+10+colourTableSize(data[pos+9])+1)
			if err != nil {
				return nil, err
			}
			out = append(out, data[start:end]...)
			pos = end
		case gifExtension:
			if pos+2 > len(data) {
				return nil, malformed("gif", "extension beyond the file")
			}
			end, err := subBlocksEnd(data, pos+2)
			if err != nil {
				return nil, err
			}
			if keepGIFExtension(data[pos+1], data[pos+2:end]) {
				out = append(out, data[start:end]...)
			}
			pos = end
		default:
			return nil, malformed("gif", "unknown block 0x%02X at offset %d", data[pos], pos)
		}
	}
}

func keepGIFExtension(label byte, blocks []byte) bool {
	switch label {
	case gifComment:
		return false
	case gifApplication:
		// The first sub-block is the 8-byte identifier and 3-byte authentication code.
		return len(blocks) >= 12 && blocks[0] == 11 && gifKeepApps[string(blocks[1:12])]
	}
	return true
}

// colourTableSize is the byte size of the colour table that a packed field
// (logical screen or image descriptor) announces.
func colourTableSize(packed byte) int {
	if packed&0x80 == 0 {
		return 0
	}
	return 3 << (packed&0x07 + 1)
}

// subBlocksEnd returns the offset just past the chain of data sub-blocks
// starting at pos (each a length byte and that many bytes; 0 ends the chain).
func subBlocksEnd(data []byte, pos int) (int, error) {
	for {
		if pos >= len(data) {
			return 0, malformed("gif", "file ends inside data sub-blocks")
		}
		n := int(data[pos])
		pos++
		if n == 0 {
			return pos, nil
		}
		pos += n
	}
}
