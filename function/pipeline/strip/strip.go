// Package strip removes private metadata (EXIF incl. GPS, XMP, IPTC, comments,
// timestamps) from encoded images without decoding or re-encoding them, so an
// original that the pipeline keeps because re-encoding did not make it smaller
// is published without leaking where and when it was taken.
//
// Each format keeps what rendering needs: colour profiles and chunks (ICC,
// gAMA/cHRM/sRGB), transparency, animation control, and the EXIF orientation
// (as a minimal EXIF block holding only that tag), so the stripped file looks
// exactly like the original. Everything else is dropped by allowlist: a chunk or
// segment this package does not know is treated as possibly private.
//
// The package is pure Go and knows nothing of ImageMagick or AWS.
package strip

import (
	"errors"
	"fmt"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// ErrUnsupported is returned for formats whose metadata cannot be removed
// without rewriting the file (TIFF keeps EXIF and GPS in IFDs that the image
// data is addressed relative to; HEIC/AVIF keep it in items of an ISO-BMFF box
// tree).
var ErrUnsupported = errors.New("metadata cannot be stripped from this format without re-encoding")

// ErrMalformed is returned when the container structure cannot be walked; the
// caller must not publish the input then, because metadata may hide in the
// part that could not be parsed.
var ErrMalformed = errors.New("malformed container")

// Strip removes private metadata from data of the given format (JPEG, PNG,
// WebP, GIF); other formats return ErrUnsupported. The result never shares
// memory with data.
func Strip(format outcome.Format, data []byte) ([]byte, error) {
	switch format {
	case outcome.JPEG:
		return JPEG(data)
	case outcome.PNG:
		return PNG(data)
	case outcome.WebP:
		return WebP(data)
	case outcome.GIF:
		return GIF(data)
	}
	return nil, fmt.Errorf("strip %s: %w", format, ErrUnsupported)
}

func malformed(format, what string, args ...any) error {
	return fmt.Errorf("strip %s: %s: %w", format, fmt.Sprintf(what, args...), ErrMalformed)
}
