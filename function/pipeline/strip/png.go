package strip

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngKeep lists the chunks that a PNG keeps: the image itself, transparency,
// colour (gAMA, cHRM, sRGB, iCCP, cICP and the HDR chunks mDCv/cLLi), display
// hints, and APNG animation. Text (tEXt, zTXt, iTXt), tIME and every chunk
// not listed (private chunks may carry anything) are dropped; eXIf is replaced
// by a minimal one holding only the orientation, if it had one.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true,
	"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true,
	"cICP": true, "mDCv": true, "cLLi": true, "sBIT": true, "bKGD": true,
	"pHYs": true, "hIST": true, "sPLT": true,
	"acTL": true, "fcTL": true, "fdAT": true,
}

// PNG copies the kept chunks unchanged (their CRCs stay valid) and drops
// anything after IEND.
func PNG(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte(pngSignature)) {
		return nil, malformed("png", "no PNG signature")
	}
	out := make([]byte, 0, len(data))
	out = append(out, pngSignature...)
	wroteExif := false
	err := pngChunks(data, func(typ string, chunk []byte) {
		switch {
		case pngKeep[typ]:
			out = append(out, chunk...)
		case typ == "eXIf" && !wroteExif:
			if o := orientation(bytes.TrimPrefix(chunk[8:len(chunk)-4], []byte(exifHeader))); o != 0 {
				out = appendPNGChunk(out, "eXIf", minimalEXIF(o))
				wroteExif = true
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func appendPNGChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	start := len(out)
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
}

// pngChunks calls fn for every chunk up to and including IEND with its type
// and its complete bytes (length, type, data, CRC).
func pngChunks(data []byte, fn func(typ string, chunk []byte)) error {
	pos := len(pngSignature)
	for {
		if pos+12 > len(data) {
			return malformed("png", "file ends before IEND")
		}
		n := binary.BigEndian.Uint32(data[pos:])
		if n > uint32(len(data)-pos-12) {
			return malformed("png", "chunk at offset %d has length %d beyond the file", pos, n)
		}
		end := pos + 12 + int(n)
		typ := string(data[pos+4 : pos+8])
		fn(typ, data[pos:end])
		if typ == "IEND" {
			return nil
		}
		pos = end
	}
}

// IsAnimatedPNG reports whether data is an APNG: an acTL chunk before the
// first IDAT. Decoders that do not know APNG show only the default image, so
// re-encoding through them would silently drop the animation.
func IsAnimatedPNG(data []byte) bool {
	if !bytes.HasPrefix(data, []byte(pngSignature)) {
		return false
	}
	animated, seenIDAT := false, false
	// A malformed tail does not matter here: only chunks before IDAT count.
	_ = pngChunks(data, func(typ string, _ []byte) {
		switch {
		case typ == "IDAT":
			seenIDAT = true
		case typ == "acTL" && !seenIDAT:
			animated = true
		}
	})
	return animated
}
