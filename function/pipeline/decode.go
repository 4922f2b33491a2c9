package pipeline

import (
	"encoding/binary"
	"fmt"
	"slices"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/strip"
)

// detect identifies the format by magic bytes and chooses the output format.
func detect(j *job) error {
	if len(j.in) == 0 {
		return reject(outcome.ReasonEmpty, "the input has no bytes")
	}
	if maxBytes := j.s.Limits.MaxInputBytes; int64(len(j.in)) > maxBytes {
		return reject(outcome.ReasonTooLarge, "%d bytes, limit %d", len(j.in), maxBytes)
	}
	f, ok := outcome.Sniff(j.in)
	if !ok {
		if other := refusedFormat(j.in); other != "" {
			return reject(outcome.ReasonNotAllowed, "%s; allowed: JPEG, PNG, WebP, GIF, TIFF, HEIC/AVIF", other)
		}
		return reject(outcome.ReasonNotImage, "the first bytes (% x) match no allowed image format", j.in[:min(len(j.in), 8)])
	}
	if !j.readable[f] {
		return reject(outcome.ReasonNotAllowed, "%s: this ImageMagick build cannot read it", f)
	}
	j.inFmt = f
	j.outFmt = outputFormat(f, j.s)
	j.animatedPNG = f == outcome.PNG && strip.IsAnimatedPNG(j.in)
	j.losslessWebP = f == outcome.WebP && isLosslessWebP(j.in)
	return nil
}

// isLosslessWebP reports whether the image chunk of a still WebP is VP8L
// (lossless). Such files are usually graphics, which lossy re-encoding would
// smear.
func isLosslessWebP(b []byte) bool {
	for pos := 12; pos+8 <= len(b); {
		switch string(b[pos : pos+4]) {
		case "VP8L":
			return true
		case "VP8 ", "ANMF":
			return false
		}
		n := int(binary.LittleEndian.Uint32(b[pos+4:]))
		if n > len(b) {
			return false
		}
		pos += 8 + n + n%2
	}
	return false
}

// header is what a ping learns without decoding pixels.
type header struct {
	width, height int // of the first frame as stored (before orientation)
	frames        int
	orientation   imagick.OrientationType
}

// limit applies the resource limits and pings the header, refusing images
// whose declared size or frame count exceeds the settings before any pixel
// memory is allocated. ImageMagick's own width/height/area/list-length limits
// (set from the same settings) are the second wall for what a ping misses.
func limit(j *job) error {
	l := j.s.Limits
	if w, h, ok := declaredSize(j.in, j.inFmt); ok {
		if err := checkSize(l, "the declared canvas", w, h); err != nil {
			return err
		}
	}
	if err := applyLimits(j.ctx, l); err != nil {
		return err
	}
	mw := imagick.NewMagickWand()
	defer mw.Destroy()
	if err := mw.PingImageBlob(j.in); err != nil {
		return j.classify("read header", err)
	}
	if err := sameFormat(mw, j.inFmt); err != nil {
		return err
	}
	n := int(mw.GetNumberImages())
	if n > l.MaxFrames {
		return reject(outcome.ReasonTooManyFrames, "%d frames, limit %d", n, l.MaxFrames)
	}
	for i := range n {
		mw.SetIteratorIndex(i)
		w, h := int(mw.GetImageWidth()), int(mw.GetImageHeight())
		if err := checkSize(l, fmt.Sprintf("frame %d", i), w, h); err != nil {
			return err
		}
		if i == 0 {
			j.head = header{width: w, height: h, frames: n, orientation: mw.GetImageOrientation()}
		}
	}
	if n == 0 {
		return reject(outcome.ReasonCorrupt, "read header: no image in the file")
	}
	return nil
}

func checkSize(l config.Limits, what string, w, h int) error {
	if w > l.MaxDimension || h > l.MaxDimension {
		return reject(outcome.ReasonTooLarge, "%s is %dx%d, limit %d per side", what, w, h, l.MaxDimension)
	}
	if int64(w)*int64(h) > l.MaxPixels {
		return reject(outcome.ReasonTooLarge, "%s is %dx%d = %d pixels, limit %d", what, w, h, int64(w)*int64(h), l.MaxPixels)
	}
	return nil
}

// declaredSize reads the canvas size that PNG, GIF and extended WebP state at
// fixed offsets, so the worst bombs are refused before ImageMagick parses
// anything (libpng, for one, reports an oversized IHDR only as "Invalid IHDR
// data"). Other formats are left to the ping.
func declaredSize(b []byte, f outcome.Format) (w, h int, ok bool) {
	switch {
	case f == outcome.PNG && len(b) >= 24 && string(b[12:16]) == "IHDR":
		return int(binary.BigEndian.Uint32(b[16:])), int(binary.BigEndian.Uint32(b[20:])), true
	case f == outcome.GIF && len(b) >= 10:
		return int(binary.LittleEndian.Uint16(b[6:])), int(binary.LittleEndian.Uint16(b[8:])), true
	case f == outcome.WebP && len(b) >= 30 && string(b[12:16]) == "VP8X":
		u24 := func(p []byte) int { return int(p[0]) | int(p[1])<<8 | int(p[2])<<16 }
		return u24(b[24:]) + 1, u24(b[27:]) + 1, true
	}
	return 0, 0, false
}

// sameFormat refuses a file that ImageMagick reads as another format than its
// magic bytes said: the coder that runs must be the one the allowlist chose.
func sameFormat(mw *imagick.MagickWand, f outcome.Format) error {
	got := mw.GetImageFormat()
	want := []string{coders[f]}
	if f == outcome.HEIC || f == outcome.AVIF {
		want = []string{"HEIC", "HEIF", "AVIF"} // one libheif coder under three names
	}
	if !slices.Contains(want, got) {
		return reject(outcome.ReasonNotAllowed, "the bytes look like %s but ImageMagick reads them as %q", f, got)
	}
	return nil
}

// decode reads all frames. For a JPEG that will be shrunk, it asks libjpeg
// to scale by 1/2, 1/4 or 1/8 while decoding (never below the target), which
// saves most of the pixel memory of a large photo.
func decode(j *job) error {
	mw := imagick.NewMagickWand()
	j.setWand(mw)
	if j.inFmt == outcome.JPEG {
		tw, th := fitSize(displayedSize(j.head), j.s.MaxWidth, j.s.MaxHeight)
		w, h := storedSize(j.head, tw, th)
		if w < j.head.width || h < j.head.height {
			if err := mw.SetOption("jpeg:size", fmt.Sprintf("%dx%d", w, h)); err != nil {
				return j.classify("decode", err)
			}
		}
	}
	if err := mw.ReadImageBlob(j.in); err != nil {
		return j.classify("decode", err)
	}
	if err := decodeWarning(mw, j.inFmt); err != nil {
		return err
	}
	if err := sameFormat(mw, j.inFmt); err != nil {
		return err
	}
	j.frames = int(mw.GetNumberImages())
	j.hadPrivate = hasPrivate(mw)
	return nil
}

// animation keeps originals whose frames the output cannot hold. An APNG
// decodes as its default image alone, so it is never re-encoded. Other
// multi-frame files are re-encoded whole only into their own format where
// ImageMagick writes every frame back (GIF animations, multi-page TIFF).
func animation(j *job) error {
	if j.animatedPNG {
		return keep(outcome.ReasonAnimatedPNG, "an APNG (acTL chunk) would lose its animation when re-encoded")
	}
	if j.frames > 1 && !(j.inFmt == j.outFmt && (j.inFmt == outcome.GIF || j.inFmt == outcome.TIFF)) {
		return keep(outcome.ReasonMultiFrame, "%d frames of %s are not re-encoded as %s", j.frames, j.inFmt, j.outFmt)
	}
	return nil
}
