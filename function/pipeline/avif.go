package pipeline

import (
	"strconv"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// AVIFSpeed is the AV1 encoder's speed (libheif's "speed" parameter, which
// ImageMagick's heic:speed define sets; 0 is slowest and smallest). Measured
// on the layer's libaom 3.12.1 (layers/imagemagick/README.md): a 12 MP JPEG
// to a 1280 px AVIF at quality 60, in a cgroup of 256 MB and 0.145 CPU, as a
// 256 MB Lambda gets:
//
//	speed 8:  8.2 s, 55.4 kB, SSIMULACRA2 70.2
//	speed 6: 11.0 s, 56.4 kB, SSIMULACRA2 74.2
//	speed 5: 21.4 s, 55.3 kB, SSIMULACRA2 75.1
//
// 6 buys 4 points for 3 s of a 120 s timeout; 5 adds under one point for
// twice the time. Exported for the benchmark, which runs avifenc at the same
// speed.
const AVIFSpeed = 6

// encodeAVIF writes a still AVIF: lossy at the configured quality, 4:2:0
// (ImageMagick's default below quality 100, which is lossless 4:4:4), alpha
// kept, the colour profile carried as the AV1 image's ICC profile.
func encodeAVIF(j *job) error {
	err := j.classify("encode avif",
		// The layer's AV1 encoder has no high-bit-depth kernels, and
		// ImageMagick asks for 10 or 12 bits when the image says more than 8
		// (a 16-bit PNG does, even decoded into 8 bits).
		j.mw.SetImageDepth(8),
		j.mw.SetImageFormat(coders[outcome.AVIF]),
		setQuality(j.mw, uint(j.s.AVIF.Quality)),
		j.mw.SetOption("heic:speed", strconv.Itoa(AVIFSpeed)),
	)
	if err != nil {
		return err
	}
	return j.writeBlob("encode avif")
}
