package pipeline

import (
	"encoding/binary"
	"math"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// runtimeReserve is what the process holds besides the image: the Go
// runtime, the AWS clients, ImageMagick and its libraries (the bootstrap
// idles at about 25 MB).
const runtimeReserve = 32 << 20

// fitsMemory refuses, from the header ping on mw, an image that the memory
// budget cannot decode, instead of the kernel killing the function half-way
// or the work outlasting it: a pixel cache beyond what ImageMagick may use
// (pixelBudget; for several frames, beyond its memory), or a decoder buffer
// beyond what is left outside that budget. Without a budget (the CLI) every
// image passes.
func fitsMemory(j *job, mw *imagick.MagickWand) error {
	b := pixelBudget(j.s.Limits)
	state.Lock()
	memory := state.memoryBytes
	state.Unlock()
	if !b.bounded() {
		return nil
	}
	var cache, largest int64
	for i := range int(mw.GetNumberImages()) {
		mw.SetIteratorIndex(i)
		pixels := int64(mw.GetImageWidth()) * int64(mw.GetImageHeight())
		cache += pixels * channels(mw, j) * quantumBytes
		largest = max(largest, pixels)
	}
	mw.ResetIterator()
	frames := mw.GetNumberImages()
	switch inMemory := b.heap + b.mapped; {
	case frames > 1 && cache > inMemory:
		// Layer optimisation and encoding go back and forth between frames:
		// a disk cache under a memory limit thrashes (100 frames of 800x600
		// took over 8 minutes at 256 MB and 0.145 of a core).
		return reject(outcome.ReasonTooLarge, "its %d frames need %d MiB of pixel cache, and frames must fit in memory, %d MiB at this memory size",
			frames, cache>>20, inMemory>>20)
	case cache > b.total():
		return reject(outcome.ReasonTooLarge, "its pixels need %d MiB of pixel cache; ImageMagick may use %d MiB here (%d MiB of memory, %d MiB of /tmp)",
			cache>>20, b.total()>>20, inMemory>>20, b.disk>>20)
	}
	if memory == 0 {
		return nil // an explicit Limits.MemoryBytes: the rest is the caller's
	}
	// An image that does not compress (noise, an already tight file) is
	// encoded to about its own size, held in ImageMagick's blob and then in
	// Go: a 49 MiB noisy JPEG got the function killed at 256 MB.
	left := memoryLeft(j)
	if output := 2 * int64(len(j.in)); output > left {
		return reject(outcome.ReasonTooLarge, "its encoded output, which for a file that does not compress is about its %d MiB, is held twice, %d MiB, and %d MiB of the function's %d MiB are left for that",
			len(j.in)>>20, output>>20, max(0, left)>>20, memory>>20)
	}
	if need := wholeImageBuffer(j, largest); need > left {
		return reject(outcome.ReasonTooLarge, "its decoder holds the whole image at once, %d MiB, and %d MiB of the function's %d MiB are left for that",
			need>>20, max(0, left)>>20, memory>>20)
	}
	return nil
}

// memoryLeft is what the function's memory leaves beside ImageMagick's
// budget, the upload and the runtime: room for decoder buffers and encoded
// outputs. Without a memory size (the CLI, an explicit Limits.MemoryBytes)
// there is no bound.
func memoryLeft(j *job) int64 {
	state.Lock()
	memory := state.memoryBytes
	state.Unlock()
	if memory == 0 || j.s.Limits.MemoryBytes > 0 {
		return math.MaxInt64
	}
	b := pixelBudget(j.s.Limits)
	return memory - b.heap - b.mapped - int64(len(j.in)) - runtimeReserve
}

// channels is how many samples per pixel ImageMagick's pixel cache keeps for
// the current frame: the colour channels, alpha, and the index of a palette
// image.
func channels(mw *imagick.MagickWand, j *job) int64 {
	var n int64 = 3
	switch mw.GetImageColorspace() {
	case imagick.COLORSPACE_GRAY:
		n = 1
	case imagick.COLORSPACE_CMYK:
		n = 4
	}
	if mw.GetImageAlphaChannel() {
		n++
	}
	if _, colourType, ok := pngIHDR(j.in); j.inFmt == outcome.GIF || ok && colourType == 3 {
		n++
	}
	return n
}

// wholeImageBuffer is the memory a decoder allocates outside ImageMagick's
// accounting for an image of that many pixels: libwebp and libheif decode
// the whole image into one buffer (RGBA; libheif also its YCbCr planes),
// ImageMagick reads an interlaced PNG's passes into one (rows of the
// declared depth), and a TIFF strip at a time (a TIFF written as one strip,
// or with no strip size, is one buffer). 0 for decoders that hand over rows
// as they go.
func wholeImageBuffer(j *job, pixels int64) int64 {
	switch j.inFmt {
	case outcome.TIFF:
		return tiffStripBytes(j.in)
	case outcome.WebP:
		return pixels * 4
	case outcome.HEIC, outcome.AVIF:
		return pixels * 6
	case outcome.PNG:
		if len(j.in) > 28 && j.in[28] == 1 { // IHDR's interlace method: Adam7
			return pngRawBytes(j.in, pixels)
		}
	}
	return 0
}

// pngRawBytes is the size of a PNG's rows of that many pixels at the depth
// and colour type its header declares.
func pngRawBytes(png []byte, pixels int64) int64 {
	depth, colourType, _ := pngIHDR(png)
	samples := map[byte]int64{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colourType]
	return pixels * samples * max(1, int64(depth)/8)
}

// tiffStripBytes is the size of the largest piece of the first image of a
// TIFF that ImageMagick reads at once: a strip (RowsPerStrip rows, the whole
// image when the tag is missing) or a tile, at the declared sample size.
// 0 when the header cannot be read (the decoder then fails on it).
func tiffStripBytes(b []byte) int64 {
	if len(b) < 8 {
		return 0
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if b[0] == 'M' {
		bo = binary.BigEndian
	}
	ifd := int64(bo.Uint32(b[4:]))
	if ifd+2 > int64(len(b)) {
		return 0
	}
	tags := map[uint16]int64{}
	for i := range int64(bo.Uint16(b[ifd:])) {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(b)) {
			break
		}
		tag, typ, count := bo.Uint16(b[e:]), bo.Uint16(b[e+2:]), bo.Uint32(b[e+4:])
		var v int64
		switch {
		case typ == 3 && count <= 2: // SHORT values sit in the entry
			v = int64(bo.Uint16(b[e+8:]))
		case typ == 3: // the first of several SHORTs, at the offset
			if off := int64(bo.Uint32(b[e+8:])); off+2 <= int64(len(b)) {
				v = int64(bo.Uint16(b[off:]))
			}
		case typ == 4:
			v = int64(bo.Uint32(b[e+8:]))
		}
		tags[tag] = v
	}
	const (
		tagWidth, tagHeight, tagBits, tagSamples     = 256, 257, 258, 277
		tagRowsPerStrip, tagTileWidth, tagTileLength = 278, 322, 323
	)
	width, rows := tags[tagWidth], tags[tagHeight]
	if r, ok := tags[tagRowsPerStrip]; ok && r > 0 {
		rows = min(rows, r)
	}
	if tw, th := tags[tagTileWidth], tags[tagTileLength]; tw > 0 && th > 0 {
		width, rows = tw, th
	}
	samples := max(1, tags[tagSamples])
	return width * rows * samples * max(1, (tags[tagBits]+7)/8)
}
