package pipeline

import (
	"strconv"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// AVIFSpeed is the AV1 encoder's speed (libheif's "speed" parameter, which
// ImageMagick's heic:speed define sets; 0 is slowest and smallest). Until the
// layer's encoder measurement lands (layers/imagemagick/README.md, "AVIF
// encoder"), it is libaom's fastest still-image preset short of its realtime
// ones: an AVIF of a 12 MP photo at 1280 px must finish well inside the
// function's timeout at 256 MB (about 0.15 vCPU). Exported for the
// benchmark, which runs avifenc at the same speed.
const AVIFSpeed = 8

// encodeAVIF writes a still AVIF: lossy at the configured quality, 4:2:0
// (ImageMagick's default below quality 100, which is lossless 4:4:4), alpha
// kept, the colour profile carried as the AV1 image's ICC profile.
func encodeAVIF(j *job) error {
	err := j.classify("encode avif",
		j.mw.SetImageFormat(coders[outcome.AVIF]),
		setQuality(j.mw, uint(j.s.AVIF.Quality)),
		j.mw.SetOption("heic:speed", strconv.Itoa(AVIFSpeed)),
	)
	if err != nil {
		return err
	}
	return j.writeBlob("encode avif")
}
