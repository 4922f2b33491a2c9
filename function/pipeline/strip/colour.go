package strip

import "bytes"

// pngColour lists the chunks that decide which colours a PNG's samples mean.
var pngColour = map[string]bool{
	"gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true,
	"cICP": true, "mDCv": true, "cLLi": true,
}

// CopyPNGColour returns encoded (a re-encoding of original with the same
// samples) with its colour chunks replaced by original's, placed right after
// IHDR. Encoders do not always write back what they read: ImageMagick 7.1.1
// drops a gAMA chunk unless it also writes sRGB, and adds a cHRM the original
// did not have; either changes how viewers render the image.
func CopyPNGColour(encoded, original []byte) ([]byte, error) {
	if !bytes.HasPrefix(encoded, []byte(pngSignature)) || !bytes.HasPrefix(original, []byte(pngSignature)) {
		return nil, malformed("png", "no PNG signature")
	}
	var colour [][]byte
	err := pngChunks(original, func(typ string, chunk []byte) {
		if pngColour[typ] {
			colour = append(colour, chunk)
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(encoded)+len(bytes.Join(colour, nil)))
	out = append(out, pngSignature...)
	err = pngChunks(encoded, func(typ string, chunk []byte) {
		switch {
		case typ == "IHDR":
			out = append(out, chunk...)
			for _, c := range colour {
				out = append(out, c...)
			}
		case !pngColour[typ]:
			out = append(out, chunk...)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
