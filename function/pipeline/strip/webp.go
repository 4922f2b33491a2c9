package strip

import (
	"bytes"
	"encoding/binary"
)

// webpKeep lists the RIFF chunks a WebP keeps: the bitstreams, alpha, the ICC
// profile and animation. XMP and unknown chunks are dropped; EXIF is replaced
// by a minimal one holding only the orientation, if it had one.
var webpKeep = map[string]bool{
	"VP8 ": true, "VP8L": true, "VP8X": true, "ALPH": true,
	"ICCP": true, "ANIM": true, "ANMF": true,
}

// VP8X flag bits that announce metadata chunks.
const (
	vp8xEXIF = 0x08
	vp8xXMP  = 0x04
)

// WebP rebuilds the RIFF container from the kept chunks, clears the EXIF and
// XMP flags of VP8X as needed and recomputes the RIFF size. Bytes after the
// RIFF payload are dropped.
func WebP(data []byte) ([]byte, error) {
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return nil, malformed("webp", "no RIFF/WEBP header")
	}
	size := int(binary.LittleEndian.Uint32(data[4:]))
	if size < 4 || size > len(data)-8 {
		return nil, malformed("webp", "RIFF size %d does not fit a %d-byte file", size, len(data))
	}
	body := data[12 : 8+size]
	out := make([]byte, 12, len(data))
	copy(out, "RIFF\x00\x00\x00\x00WEBP")
	flags := -1 // offset of the VP8X flags byte in out
	wroteExif := false
	for len(body) > 0 {
		if len(body) < 8 {
			return nil, malformed("webp", "truncated chunk header")
		}
		n := int(binary.LittleEndian.Uint32(body[4:]))
		if n > len(body)-8 {
			return nil, malformed("webp", "chunk %q length %d beyond the file", body[:4], n)
		}
		typ := string(body[:4])
		switch {
		case webpKeep[typ]:
			if typ == "VP8X" && n >= 1 {
				flags = len(out) + 8
			}
			out = appendRIFFChunk(out, typ, body[8:8+n])
		case typ == "EXIF" && !wroteExif:
			if o := orientation(bytes.TrimPrefix(body[8:8+n], []byte(exifHeader))); o != 0 {
				out = appendRIFFChunk(out, "EXIF", minimalEXIF(o))
				wroteExif = true
			}
		}
		// Chunks are padded to even sizes; a missing pad byte at the very end
		// is tolerated, as decoders do.
		body = body[min(8+n+n%2, len(body)):]
	}
	if flags >= 0 {
		out[flags] &^= vp8xXMP
		if !wroteExif {
			out[flags] &^= vp8xEXIF
		}
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out, nil
}

func appendRIFFChunk(out []byte, typ string, data []byte) []byte {
	out = append(out, typ...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, data...)
	if len(data)%2 == 1 {
		out = append(out, 0)
	}
	return out
}
