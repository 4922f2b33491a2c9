package pipeline_test

import (
	"context"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

// BenchmarkProcess times the whole pipeline per kind of upload and reports
// the output/input size ratio. Corpus files are used when present, generated
// images otherwise.
func BenchmarkProcess(b *testing.B) {
	resized := settings(func(s *config.Settings) { s.MaxWidth, s.MaxHeight = 1600, 1600 })
	cases := []struct {
		name, file, spec, format string
		s                        config.Settings
	}{
		{"jpeg-12MP", "exifpy_Xiaomi_Mi_9T_12MP_orient6.jpg", "plasma:fractal", "JPEG", config.Default()},
		{"jpeg-12MP-fit1600", "exifpy_Xiaomi_Mi_9T_12MP_orient6.jpg", "plasma:fractal", "JPEG", resized},
		{"jpeg-8MP", "exifsamples_iphone6_hdr_NO_gps.jpg", "plasma:fractal", "JPEG", config.Default()},
		{"png-photo", "kodak_kodim01.png", "plasma:fractal", "PNG", config.Default()},
		{"png-16bit", "libvips_sample_16bit_rgb.png", "gradient:red-blue", "PNG", config.Default()},
		{"gif-animated-42", "pillow_iss634_animated.gif", "", "", config.Default()},
		{"webp-lossless", "libwebptd_lossless_color_transform.webp", "plasma:fractal", "WEBP", config.Default()},
		{"heic-to-jpeg", "exifsamples_IMG_5195.heic", "", "", config.Default()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var in []byte
			switch {
			case corpusDir() != "":
				in = corpusFile(b, c.file)
			case c.spec != "":
				in = pattern(b, c.spec, 4000, 3000, c.format)
			case c.name == "gif-animated-42":
				in = animatedGIF(b, 42)
			default:
				b.Skip("needs the shared corpus")
			}
			b.SetBytes(int64(len(in)))
			var r pipeline.Result
			for b.Loop() {
				var err error
				if r, err = pipeline.Process(context.Background(), in, c.s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(r.BytesOut)/float64(r.BytesIn), "out/in")
		})
	}
}
