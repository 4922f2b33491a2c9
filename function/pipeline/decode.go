package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/strip"
)

// detect identifies the format by magic bytes.
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
	return fitsMemory(j, mw)
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

// decode reads all frames. For a JPEG whose every output is much smaller,
// it asks libjpeg to scale by 1/2 .. 1/8 while decoding (never below twice
// the largest output, so the resize filter still has the pixels to shrink
// from), which saves most of the pixel memory and time of a large photo.
//
// A decode that leaves warnings is judged by what the decoder did with the
// damage (judgeDecode). When ImageMagick fails on damage after the image
// data (readablePart), the part before it is decoded instead, and the job
// continues with that intact part.
func decode(j *job) error {
	w, h, scale := j.decodeSize()
	scale = scale && j.inFmt == outcome.JPEG
	size := ""
	if scale {
		size = fmt.Sprintf("%dx%d", w, h)
	}
	warning, err := read(j, j.in, size)
	var rej *rejection
	if errors.As(err, &rej) {
		if part, repair, ok := readablePart(j.inFmt, j.in); ok {
			if w, e := read(j, part, size); e == nil {
				j.in, j.repair, warning, err = part, repair, w, nil
			}
		}
	}
	if err != nil {
		return err
	}
	decodeFrom, err := judgeDecode(j, warning)
	if err != nil {
		return err
	}
	j.decoded = j.in
	if decodeFrom != nil {
		if _, err := read(j, decodeFrom, size); err != nil {
			return err
		}
		j.decoded = decodeFrom
	}
	mw := j.mw
	if err := sameFormat(mw, j.inFmt); err != nil {
		return err
	}
	j.frames = int(mw.GetNumberImages())
	mw.ResetIterator()
	j.scaled = scale && (int(mw.GetImageWidth()) < j.head.width || int(mw.GetImageHeight()) < j.head.height)
	j.hadPrivate = hasPrivate(mw)
	return nil
}

// read decodes data into a new wand of the job, at the JPEG scale size asks
// for ("" for full size). It fails when the read fails or returns a partial
// image with an error; warning is what a successful read left.
func read(j *job, data []byte, size string) (warning, err error) {
	mw := imagick.NewMagickWand()
	j.setWand(mw)
	if size != "" {
		if err := mw.SetOption("jpeg:size", size); err != nil {
			return nil, j.classify("decode", err)
		}
	}
	if err := mw.ReadImageBlob(data); err != nil {
		return nil, j.classify("decode", err)
	}
	last := mw.GetLastError()
	if kind, _, ok := exception(last); ok && kind >= imagick.EXCEPTION_ERROR {
		// The coder failed part-way and returned what it had read.
		return nil, j.classify("decode", last)
	}
	return last, nil
}

// dctMargin is how much larger than the largest output a scaled JPEG decode
// stays: libjpeg's scaling averages blocks, coarser than the resize filter,
// which is left at least this factor to shrink.
const dctMargin = 2

// decodeSize is the size (as stored) to ask libjpeg for: dctMargin times the
// largest output, when every output is smaller than the upload by at least
// that much; ok is false otherwise.
func (j *job) decodeSize() (w, h int, ok bool) {
	shown := displayedSize(j.head)
	var need [2]int
	for _, o := range j.s.Outputs {
		tw, th := fitSize(shown, o.MaxWidth, o.MaxHeight)
		need = [2]int{max(need[0], dctMargin*tw), max(need[1], dctMargin*th)}
	}
	if need[0] > shown[0] || need[1] > shown[1] {
		return 0, 0, false
	}
	w, h = storedSize(j.head, need[0], need[1])
	return w, h, true
}

// allows reports whether output o fits the scaled decode (by then oriented
// as displayed): it must have been among the outputs decodeSize looked at, or
// be no larger than they were.
func (j *job) allows(o config.Output) bool {
	tw, th := fitSize(displayedSize(j.head), o.MaxWidth, o.MaxHeight)
	return dctMargin*tw <= int(j.mw.GetImageWidth())+dctMargin && dctMargin*th <= int(j.mw.GetImageHeight())+dctMargin
}
