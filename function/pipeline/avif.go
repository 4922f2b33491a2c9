package pipeline

import (
	"strconv"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// AVIFSpeed is the AV1 encoder's speed (libheif's "speed" parameter, which
// ImageMagick's heic:speed define sets; 0 is slowest and smallest). Measured
// until the layer's own encoder measurement lands (layers/imagemagick/
// README.md): Debian's libaom 3.6 through libheif 1.15, a 12 MP JPEG to a
// 1280 px AVIF at quality 60, in a cgroup of 256 MB and 0.15 CPU, as a
// 256 MB Lambda gets:
//
//	speed 6: 13.3 s, 1.99 s CPU, 40.0 kB
//	speed 7: 10.4 s, 1.56 s CPU, 38.7 kB
//	speed 8:  8.1 s, 1.20 s CPU, 39.0 kB
//	speed 9:  7.6 s, 1.14 s CPU, 47.1 kB
//
// 8 is within 1% of 7's size at three quarters of its time; 9 (libaom's
// real-time tuning) is a fifth larger. Peak RSS was 152 MB at every speed.
// Exported for the benchmark, which runs avifenc at the same speed.
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
