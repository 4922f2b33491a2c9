package pipeline_test

import (
	"context"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

// BenchmarkProcess times the whole pipeline per kind of upload and reports
// the output/input size ratio. Corpus files are used when present, generated
// images otherwise.
func BenchmarkProcess(b *testing.B) {
	resized := settings(only(config.Output{Format: config.Original, MaxWidth: 1600, MaxHeight: 1600}))
	photo := func(format string) func(testing.TB) []byte {
		return func(tb testing.TB) []byte { return fixture.Pattern(tb, "plasma:fractal", 4000, 3000, format) }
	}
	cases := []struct {
		name, file string
		standIn    func(testing.TB) []byte // nil: the case needs the corpus
		s          config.Settings
	}{
		{"jpeg-12MP", "exifpy_Xiaomi_Mi_9T_12MP_orient6.jpg", photo("JPEG"), config.Default()},
		{"jpeg-12MP-fit1600", "exifpy_Xiaomi_Mi_9T_12MP_orient6.jpg", photo("JPEG"), resized},
		{"jpeg-8MP", "exifsamples_iphone6_hdr_NO_gps.jpg", photo("JPEG"), config.Default()},
		{"png-photo", "kodak_kodim01.png", photo("PNG"), config.Default()},
		{"png-16bit", "libvips_sample_16bit_rgb.png", func(tb testing.TB) []byte {
			return fixture.PNG16(tb, 4000, 3000)
		}, config.Default()},
		{"gif-animated-42", "pillow_iss634_animated.gif", func(tb testing.TB) []byte { return fixture.AnimatedGIF(tb, 42) }, config.Default()},
		{"webp-lossless", "libwebptd_lossless_color_transform.webp", photo("WEBP"), config.Default()},
		{"heic-to-jpeg", "exifsamples_IMG_5195.heic", nil, config.Default()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var in []byte
			if c.standIn == nil {
				in = fixture.File(b, c.file)
			} else {
				in = fixture.FileOr(b, c.file, c.standIn)
			}
			b.SetBytes(int64(len(in)))
			var r pipeline.Result
			for b.Loop() {
				var err error
				if r, err = processOne(b, context.Background(), in, c.s); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(r.BytesOut)/float64(r.BytesIn), "out/in")
		})
	}
}
