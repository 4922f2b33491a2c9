package pipeline

import (
	"strconv"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/strip"
)

// encode writes the frames in the output format with that format's settings.
func encode(j *job) error {
	var err error
	switch j.outFmt {
	case outcome.JPEG:
		err = encodeJPEG(j)
	case outcome.PNG:
		err = encodePNG(j)
	case outcome.WebP:
		err = encodeWebP(j)
	case outcome.GIF:
		err = encodeGIF(j)
	case outcome.TIFF:
		err = encodeTIFF(j)
	case outcome.AVIF:
		err = encodeAVIF(j)
	default:
		err = reject(outcome.ReasonNotAllowed, "no encoder writes %s", j.outFmt)
	}
	return err
}

// samplingFactors are libjpeg's luma factors (chroma is 1x1) for the
// configured chroma subsampling.
var samplingFactors = map[string]string{
	"4:2:0": "2x2,1x1,1x1",
	"4:2:2": "2x1,1x1,1x1",
	"4:4:4": "1x1,1x1,1x1",
}

// encodeJPEG: quality from the settings, progressive if configured (smaller
// for photos, and browsers show it early), Huffman tables optimised for the
// image (ImageMagick skips that when memory is tight unless asked), and the
// configured chroma subsampling (strip removed the input's jpeg:sampling-factor
// property, which would otherwise win).
func encodeJPEG(j *job) error {
	mw := j.mw
	interlace := imagick.INTERLACE_NO
	if j.s.JPEG.Progressive {
		interlace = imagick.INTERLACE_JPEG
	}
	err := j.classify("encode jpeg",
		mw.SetImageFormat(coders[outcome.JPEG]),
		setQuality(mw, uint(j.s.JPEG.Quality)),
		mw.SetInterlaceScheme(interlace),
		mw.SetImageInterlaceScheme(interlace),
		mw.SetOption("jpeg:optimize-coding", "true"),
		mw.SetOption("jpeg:sampling-factor", samplingFactors[j.s.JPEG.Sampling]),
	)
	if err != nil {
		return err
	}
	return j.writeBlob("encode jpeg")
}

// pngChunksExcluded keeps text, time and EXIF chunks out of PNG output; the
// colour chunks (gAMA, cHRM, sRGB, iCCP) stay.
const pngChunksExcluded = "tEXt,zTXt,iTXt,tIME,eXIf,EXIF,date,caNv,vpAg"

// pngSmallPixels bounds the images for which a second filter strategy is
// tried: cheap for graphics, not worth doubling the time of a large photo.
const pngSmallPixels = 4_000_000

// encodePNG writes lossless PNG. ImageMagick's PNG "quality" is not a quality
// but zlib level*10 + filter: 5 is libpng's adaptive filtering, except for
// grey and palette images (and levels below 5), which get none; 6 is
// adaptive for all. Where the two differ and the image is small enough to
// encode twice cheaply, both are tried and the smaller kept. The writer
// chooses the smallest lossless colour type itself (palette when the colours
// fit, 16 bits only when the samples need them).
//
// A PNG input's colour chunks are copied into the output as they were (see
// strip.CopyPNGColour); when it has an ICC profile, the output keeps its
// colour type and bit depth, because an RGB profile is invalid in a grey PNG
// (and the writer turns grey-looking RGB into grey).
func encodePNG(j *job) error {
	mw := j.mw
	if err := j.classify("encode png",
		mw.SetImageFormat(coders[outcome.PNG]),
		mw.SetOption("png:exclude-chunks", pngChunksExcluded),
	); err != nil {
		return err
	}
	if depth, colourType, ok := pngIHDR(j.in); ok && j.inFmt == outcome.PNG && len(mw.GetImageProfile("icc")) > 0 {
		if err := j.classify("encode png",
			mw.SetOption("png:color-type", strconv.Itoa(int(colourType))),
			mw.SetOption("png:bit-depth", strconv.Itoa(int(depth))),
		); err != nil {
			return err
		}
	}
	level := uint(j.s.PNG.CompressionLevel) * 10
	if err := pngAttempt(j, level+5); err != nil {
		return err
	}
	if filtersDiffer(j.out, level) && mw.GetImageWidth()*mw.GetImageHeight() <= pngSmallPixels {
		first := j.out
		if err := pngAttempt(j, level+6); err != nil {
			return err
		}
		if len(first) <= len(j.out) {
			j.out = first
		}
	}
	if j.inFmt != outcome.PNG {
		return nil
	}
	out, err := strip.CopyPNGColour(j.out, j.in)
	if err != nil {
		return reject(outcome.ReasonCorrupt, "%v", err)
	}
	j.out = out
	return nil
}

// pngIHDR returns the bit depth and colour type a PNG declares.
func pngIHDR(b []byte) (depth, colourType byte, ok bool) {
	if len(b) < 26 || string(b[12:16]) != "IHDR" {
		return 0, 0, false
	}
	return b[24], b[25], true
}

func pngAttempt(j *job, quality uint) error {
	if err := j.ctx.Err(); err != nil {
		return err
	}
	if err := setQuality(j.mw, quality); err != nil {
		return j.classify("encode png", err)
	}
	return j.writeBlob("encode png")
}

// filtersDiffer reports whether filter 6 would encode differently from 5:
// only for grey or palette output (IHDR colour type 0 or 3) or low levels.
func filtersDiffer(png []byte, level uint) bool {
	_, colourType, ok := pngIHDR(png)
	return level < 50 || !ok || colourType == 0 || colourType == 3
}

// encodeWebP: lossy with the configured quality and method, or lossless when
// configured or when the input WebP was lossless. For lossless output the
// quality is 100: ImageMagick also passes the quality as libwebp's
// near-lossless level, which below 100 changes pixels. Lossless output keeps
// the colour of fully transparent pixels too ("exact").
func encodeWebP(j *job) error {
	mw := j.mw
	lossless := j.s.WebP.Lossless || j.losslessWebP
	quality := uint(j.s.WebP.Quality)
	if lossless {
		quality = 100
	}
	err := j.classify("encode webp",
		mw.SetImageFormat(coders[outcome.WebP]),
		setQuality(mw, quality),
		mw.SetOption("webp:method", strconv.Itoa(j.s.WebP.Method)),
		mw.SetOption("webp:lossless", strconv.FormatBool(lossless)),
		mw.SetOption("webp:exact", strconv.FormatBool(lossless)),
	)
	if err != nil {
		return err
	}
	return j.writeBlob("encode webp")
}

// encodeGIF writes every frame; an animation's frames are first reduced to
// the pixels that change (OptimizeImageLayers, which returns a new wand) and
// unchanged pixels made transparent so LZW compresses them well.
//
// Frames that are not already palette images are quantized by the writer
// without dithering: ImageMagick's dithering allocates and clears a 128 MiB
// colour cache per frame (seconds of work and half a 256 MB Lambda), and
// dither noise defeats the frame optimisation.
func encodeGIF(j *job) error {
	if j.frames > 1 {
		if err := j.derive("coalesce gif", j.mw.CoalesceImages()); err != nil {
			return err
		}
		if err := j.derive("optimize gif", j.mw.OptimizeImageLayers()); err != nil {
			return err
		}
		if err := j.mw.OptimizeImageTransparency(); err != nil {
			return j.classify("optimize gif", err)
		}
	}
	err := eachFrame(j.mw, func() error {
		return j.classify("encode gif",
			j.mw.SetImageFormat(coders[outcome.GIF]),
			j.mw.SetImageArtifact("dither", "None"),
		)
	})
	if err != nil {
		return err
	}
	return j.writeBlob("encode gif")
}

// encodeTIFF writes lossless ZIP (deflate) at the PNG compression level, with
// every page.
func encodeTIFF(j *job) error {
	err := eachFrame(j.mw, func() error {
		return j.classify("encode tiff",
			j.mw.SetImageFormat(coders[outcome.TIFF]),
			j.mw.SetCompression(imagick.COMPRESSION_ZIP), // the writer prefers the wand's over the image's
			j.mw.SetImageCompression(imagick.COMPRESSION_ZIP),
			setQuality(j.mw, uint(j.s.PNG.CompressionLevel)*10),
		)
	})
	if err != nil {
		return err
	}
	return j.writeBlob("encode tiff")
}

// setQuality sets the quality both where the JPEG and WebP writers read it
// (the image) and where the PNG and TIFF writers do (the wand's image info).
func setQuality(mw *imagick.MagickWand, q uint) error {
	if err := mw.SetCompressionQuality(q); err != nil {
		return err
	}
	return mw.SetImageCompressionQuality(q)
}

// writeBlob encodes all frames into j.out.
func (j *job) writeBlob(what string) error {
	j.mw.ResetIterator()
	blob, err := j.mw.GetImagesBlob()
	if err != nil {
		return j.classify(what, err)
	}
	if len(blob) == 0 {
		return reject(outcome.ReasonCorrupt, "%s: ImageMagick wrote no bytes", what)
	}
	j.out = blob
	return nil
}
