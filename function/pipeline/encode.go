package pipeline

import (
	"errors"
	"fmt"
	"image"
	"math"
	"runtime/debug"
	"strconv"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/browserjpeg"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/pngopt"
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

// encodeJPEG: the quality from the settings or, with a target score, chosen
// for the image; progressive if configured (smaller for photos, and browsers
// show it early), Huffman tables optimised for the image (ImageMagick skips
// that when memory is tight unless asked), and the configured chroma
// subsampling (strip removed the input's jpeg:sampling-factor property,
// which would otherwise win).
func encodeJPEG(j *job) error {
	q, err := j.lossyQuality(j.s.JPEG.Lossy, jpegCodec(j.s.JPEG))
	if err != nil {
		return err
	}
	if err := j.classify("encode jpeg", jpegOptions(j.mw, j.s.JPEG, q)); err != nil {
		return err
	}
	return j.writeBlob("encode jpeg")
}

// jpegOptions sets a wand up to write JPEG with s at quality q.
func jpegOptions(mw *imagick.MagickWand, s config.JPEG, q int) error {
	interlace := imagick.INTERLACE_NO
	if s.Progressive {
		interlace = imagick.INTERLACE_JPEG
	}
	return firstError(
		mw.SetImageFormat(coders[outcome.JPEG]),
		setQuality(mw, uint(q)),
		mw.SetInterlaceScheme(interlace),
		mw.SetImageInterlaceScheme(interlace),
		mw.SetOption("jpeg:optimize-coding", "true"),
		mw.SetOption("jpeg:sampling-factor", samplingFactors[s.Sampling]),
	)
}

// firstError is the first non-nil of errs, all evaluated first: it groups
// calls that are harmless after a failed one (options on a wand).
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// jpegCodec is JPEG for the quality search. Samples are decoded as browsers
// decode them (package browserjpeg), not by the linked libjpeg: jpegli's
// decoder is smoother and would score the same file 1-2 points higher than
// any browser shows it, and Go's plain decoder repeats chroma samples where
// browsers interpolate them (up to 3 points higher on colourful images).
// Scores rise by about 0.7 per quality step near 80.
func jpegCodec(s config.JPEG) lossyCodec {
	return lossyCodec{
		name: "jpeg",
		encode: func(mw *imagick.MagickWand, q int) ([]byte, error) {
			if err := jpegOptions(mw, s, q); err != nil {
				return nil, err
			}
			return mw.GetImageBlob()
		},
		decode: func(b []byte) (image.Image, error) {
			im, err := browserjpeg.Decode(b)
			if err != nil {
				return nil, err
			}
			return im.NRGBA(), nil
		},
		lo: 30, hi: 100, slope: 0.7,
		guess: func(target float64) int { return int(math.Round(target)) + 3 },
	}
}

// lossyQuality is the encoder quality for the current image: l.Quality, or
// the one searched for l.TargetScore (recorded on the job for the Result).
// The search is an optimisation, so where it cannot run the image still gets
// encoded, at l.Quality: images too small for the metric (under 8x8), and
// ImageMagick refusing the sample's few megabytes (a tight
// limits.memoryBytes). A cancelled or expired ctx is returned.
func (j *job) lossyQuality(l config.Lossy, c lossyCodec) (int, error) {
	if !l.Searched() {
		return l.Quality, nil
	}
	j.mw.ResetIterator()
	q, score, err := searchQuality(j.ctx, j.mw, c, l.TargetScore)
	// The metric's planes (tens of MB for a mosaic) are garbage now, but Go
	// keeps freed heap for a while; the full-size encode that follows
	// allocates outside Go, and at 256 MB the two must not add up.
	debug.FreeOSMemory()
	if err != nil {
		if ctxErr := j.ctx.Err(); ctxErr != nil {
			return 0, ctxErr
		}
		if _, _, fromMagick := exception(err); fromMagick || errors.Is(err, errTooSmall) {
			return l.Quality, nil
		}
		return 0, fmt.Errorf("choose the %s quality: %w", c.name, err)
	}
	j.searched, j.score = q, score
	return q, nil
}

// pngChunksExcluded keeps text, time and EXIF chunks out of PNG output, and
// the hints ImageMagick writes of its own accord (a default white bKGD, pHYs
// from an EXIF resolution, oFFs): bytes no browser uses. The colour chunks
// (gAMA, cHRM, sRGB, iCCP) stay.
const pngChunksExcluded = "tEXt,zTXt,iTXt,tIME,eXIf,EXIF,date,caNv,vpAg,bKGD,pHYs,oFFs"

// pngSmallPixels bounds the images for which ImageMagick's second filter
// strategy and a truecolour encoding are tried: cheap for graphics, not
// worth the time on a large photo.
const pngSmallPixels = 4_000_000

// pngTruecolourPixels bounds the palette images that are also tried as
// truecolour: at small sizes the palette's own bytes can outweigh what it saves.
const pngTruecolourPixels = 64 << 10

// encodePNG writes lossless PNG, or with png.targetScore a palette image
// when it reaches the target. ImageMagick's PNG "quality" is not a quality
// but zlib level*10 + filter: 5 is libpng's adaptive filtering, except for
// grey and palette images (and levels below 5), which get none; 6 is
// adaptive for all. Where the two differ and the image is small enough to
// encode twice cheaply, both are tried and the smaller kept. The writer
// chooses the smallest lossless colour type itself (palette when the colours
// fit, 16 bits only when the samples need them); small palette images are
// also tried as truecolour. Then package pngopt re-filters and re-deflates
// the smaller in trials of its own.
//
// A PNG input's colour chunks are copied into the output as they were (see
// strip.CopyPNGColour); when it has an ICC profile, the output keeps its
// colour type and bit depth, because an RGB profile is invalid in a grey PNG
// (and the writer turns grey-looking RGB into grey). The orientation is
// already applied to the pixels, so ImageMagick's orNT chunk is not written.
func encodePNG(j *job) error {
	mw := j.mw
	if depth, _, ok := pngIHDR(j.in); ok && j.inFmt == outcome.PNG && depth == 16 {
		if _, built := imagick.GetQuantumDepth(); built < 16 {
			// A smaller rendition is a new image, written at the bits
			// this build holds; the upload's own size keeps its 16 bits.
			if !j.resized {
				return j.sixteenBitPNG(built)
			}
			if err := j.classify("encode png", mw.SetImageDepth(built)); err != nil {
				return err
			}
		}
	}
	if err := j.classify("encode png",
		mw.SetImageFormat(coders[outcome.PNG]),
		mw.SetOption("png:exclude-chunks", pngChunksExcluded),
		mw.SetImageOrientation(imagick.ORIENTATION_UNDEFINED),
	); err != nil {
		return err
	}
	pinned := false
	if depth, colourType, ok := pngIHDR(j.in); ok && j.inFmt == outcome.PNG && len(mw.GetImageProfile("icc")) > 0 {
		pinned = true
		if err := j.classify("encode png",
			mw.SetOption("png:color-type", strconv.Itoa(int(colourType))),
			mw.SetOption("png:bit-depth", strconv.Itoa(int(depth))),
		); err != nil {
			return err
		}
	}
	out, err := j.losslessPNG()
	if err != nil {
		return err
	}
	pixels := mw.GetImageWidth() * mw.GetImageHeight()
	if _, colourType, _ := pngIHDR(out); colourType == 3 && !pinned && pixels <= pngTruecolourPixels {
		truecolour := "2"
		if mw.GetImageAlphaChannel() {
			truecolour = "6"
		}
		if err := j.classify("encode png", mw.SetOption("png:color-type", truecolour)); err != nil {
			return err
		}
		other, err := j.losslessPNG()
		if err != nil {
			return err
		}
		if len(other) < len(out) {
			out = other
		}
	}
	if t := j.s.PNG.TargetScore; t > 0 {
		lossy, score, err := j.palettePNG(t)
		if err != nil {
			return err
		}
		if lossy != nil && len(lossy) < len(out) {
			out, j.score = lossy, score
		}
	}
	j.out = out
	return nil
}

// sixteenBitPNG is the output of a 16-bit PNG on an ImageMagick that holds
// fewer bits per sample, whose decode has already lost depth: the upload's
// own image data, re-filtered and re-deflated by pngopt, with private chunks
// removed as for a kept original (its orientation tag too is kept, since the
// pixels are not rotated). At a lower compression level, or where pngopt
// would not fit in memory, it is the original.
func (j *job) sixteenBitPNG(built uint) error {
	depth := func() error {
		return keep(outcome.ReasonDepth, "a 16-bit PNG, and this ImageMagick holds %d bits per sample", built)
	}
	if j.s.PNG.CompressionLevel < 9 {
		return depth()
	}
	stripped, err := strip.PNG(j.in)
	if err != nil || !pngoptFits(j, stripped) {
		return depth()
	}
	out, err := pngopt.Optimize(j.ctx, stripped, pngopt.Options{})
	if err != nil {
		if ctxErr := j.ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return depth()
	}
	j.out = out
	return nil
}

// losslessPNG encodes the wand with ImageMagick (both filter strategies where
// they differ and the image is small), copies the input's colour chunks and
// optimizes the result with pngopt.
func (j *job) losslessPNG() ([]byte, error) {
	level := uint(j.s.PNG.CompressionLevel) * 10
	if err := pngAttempt(j, level+5); err != nil {
		return nil, err
	}
	if filtersDiffer(j.out, level) && j.mw.GetImageWidth()*j.mw.GetImageHeight() <= pngSmallPixels {
		first := j.out
		if err := pngAttempt(j, level+6); err != nil {
			return nil, err
		}
		if len(first) <= len(j.out) {
			j.out = first
		}
	}
	return j.finishPNG(j.out)
}

// finishPNG gives an encoded PNG the input's colour chunks and, at the
// highest compression level (the default; lower levels ask for speed),
// pngopt's smallest image data.
func (j *job) finishPNG(png []byte) ([]byte, error) {
	if j.inFmt == outcome.PNG {
		var err error
		if png, err = strip.CopyPNGColour(png, j.in); err != nil {
			return nil, reject(outcome.ReasonCorrupt, "%v", err)
		}
	}
	if j.s.PNG.CompressionLevel < 9 || !pngoptFits(j, png) {
		return png, nil
	}
	out, err := pngopt.Optimize(j.ctx, png, pngopt.Options{})
	if err != nil {
		return nil, fmt.Errorf("optimize png: %w", err)
	}
	return out, nil
}

// pngoptFits says whether pngopt's trial fits beside the rest: it holds the
// image's rows about three times (inflated, unfiltered, re-filtered) and the
// PNG twice. A 50 MP PNG needed 450 MiB and a minute of a whole core; at
// 256 MB it was killed or timed out. Beyond, ImageMagick's own lossless PNG
// stands.
func pngoptFits(j *job, png []byte) bool {
	rows := pngRawBytes(png, int64(j.mw.GetImageWidth())*int64(j.mw.GetImageHeight()))
	return 3*rows+2*int64(len(png)) <= memoryLeft(j)
}

// palettePNG quantizes a copy of the image to at most 256 colours with
// Riemersma dithering in CIELAB (which scored best of ImageMagick's methods
// and colour spaces on the Kodak photos; its Floyd-Steinberg scored 20 to 30
// points lower), scores the sample's cells of it against the original's,
// and returns its PNG and score when the score reaches target; nil otherwise.
func (j *job) palettePNG(target float64) ([]byte, float64, error) {
	j.mw.ResetIterator()
	s, err := takeSample(j.mw)
	if errors.Is(err, errTooSmall) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, j.classify("lossy png", err)
	}
	q := j.mw.Clone()
	defer q.Destroy()
	// The wand's quantizer leaves the image in the colour space it
	// quantized in (the command line converts back).
	if err := j.classify("lossy png: quantize",
		q.QuantizeImage(256, imagick.COLORSPACE_LAB, 0, imagick.DITHER_METHOD_RIEMERSMA, false),
		q.TransformImageColorspace(imagick.COLORSPACE_SRGB),
	); err != nil {
		return nil, 0, err
	}
	px, err := s.pixelsOf(q)
	if err != nil {
		return nil, 0, j.classify("lossy png", err)
	}
	score, err := s.ref.Score(px)
	if err != nil {
		return nil, 0, fmt.Errorf("lossy png: %w", err)
	}
	if score < target+s.bias {
		return nil, 0, nil
	}
	if err := j.classify("lossy png", q.SetImageFormat(coders[outcome.PNG]), q.SetOption("png:color-type", "3"), q.SetOption("png:bit-depth", "8"), setQuality(q, uint(j.s.PNG.CompressionLevel)*10)); err != nil {
		return nil, 0, err
	}
	blob, err := q.GetImageBlob()
	if err != nil {
		return nil, 0, j.classify("lossy png", err)
	}
	out, err := j.finishPNG(blob)
	return out, score, err
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

// encodeWebP: lossy with the configured (or searched) quality and method,
// or lossless when configured or when the input WebP was lossless. For
// lossless output the quality is 100: ImageMagick also passes the quality as
// libwebp's near-lossless level, which below 100 changes pixels. Lossless
// output keeps the colour of fully transparent pixels too ("exact").
func encodeWebP(j *job) error {
	lossless := j.s.WebP.Lossless || j.losslessWebP
	q := 100
	if !lossless {
		var err error
		if q, err = j.lossyQuality(j.s.WebP.Lossy, webpCodec(j.s.WebP)); err != nil {
			return err
		}
	}
	if err := j.classify("encode webp", webpOptions(j.mw, j.s.WebP, q, lossless)); err != nil {
		return err
	}
	return j.writeBlob("encode webp")
}

func webpOptions(mw *imagick.MagickWand, s config.WebP, q int, lossless bool) error {
	return firstError(
		mw.SetImageFormat(coders[outcome.WebP]),
		setQuality(mw, uint(q)),
		mw.SetOption("webp:method", strconv.Itoa(s.Method)),
		mw.SetOption("webp:lossless", strconv.FormatBool(lossless)),
		mw.SetOption("webp:exact", strconv.FormatBool(lossless)),
	)
}

// webpCodec is lossy WebP for the quality search; samples are decoded by the
// linked libwebp, the decoder browsers use.
func webpCodec(s config.WebP) lossyCodec {
	return lossyCodec{
		name: "webp",
		encode: func(mw *imagick.MagickWand, q int) ([]byte, error) {
			if err := webpOptions(mw, s, q, false); err != nil {
				return nil, err
			}
			return mw.GetImageBlob()
		},
		decode: decodeWithMagick,
		lo:     0, hi: 100, slope: 0.5,
		guess: func(target float64) int { return int(math.Round(target)) },
	}
}

// decodeWithMagick reads a blob with ImageMagick as 8-bit RGBA.
func decodeWithMagick(b []byte) (image.Image, error) {
	mw := imagick.NewMagickWand()
	defer mw.Destroy()
	if err := mw.ReadImageBlob(b); err != nil {
		return nil, err
	}
	return export(mw, 0, 0, int(mw.GetImageWidth()), int(mw.GetImageHeight()))
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
