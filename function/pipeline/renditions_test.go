package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

// avifWritable reports whether this ImageMagick writes AVIF, and logs why
// not: the AV1 encoder comes with the layer.
func avifWritable(t *testing.T) bool {
	t.Helper()
	err := pipeline.CheckOutputs(settings(only(config.Output{Format: "avif"})))
	if err != nil {
		t.Logf("AVIF outputs not tested: %v", err)
	}
	return err == nil
}

// TestRenditions: one decode, several outputs, each in its format and size,
// none bigger than the upload unless the reason says why.
func TestRenditions(t *testing.T) {
	in := fixture.Pattern(t, "plasma:fractal", 1200, 800, "JPEG", fixture.Quality(95))
	in = fixture.WithAPP1(in, fixture.GPSExif(6)) // displayed 800x1200
	s := settings(func(s *config.Settings) {
		s.Outputs = []config.Output{
			{Format: config.Original},
			{Format: "webp", MaxWidth: 640, Suffix: "-640"},
			{Format: "jpeg", MaxWidth: 300, MaxHeight: 300, Suffix: "-thumb", Quality: 50},
			{Format: "png", MaxHeight: 120, Suffix: "-tiny"},
		}
		if avifWritable(t) {
			s.Outputs = append(s.Outputs, config.Output{Format: "avif", MaxWidth: 640, Suffix: "-640"})
		}
	})
	rs, err := pipeline.Process(context.Background(), in, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(s.Outputs) {
		t.Fatalf("%d results for %d outputs", len(rs), len(s.Outputs))
	}
	want := [][2]int{{800, 1200}, {640, 960}, {200, 300}, {80, 120}, {640, 960}}
	for i, r := range rs {
		o := s.Outputs[i]
		t.Run(o.Name(), func(t *testing.T) {
			if r.Decision != outcome.Compressed {
				t.Fatalf("%s (%s), want compressed", r.Decision, r.Reason)
			}
			if wantFmt := outcome.Written(outcome.JPEG, o.Target()); r.FormatOut != wantFmt {
				t.Errorf("format %s, want %s", r.FormatOut, wantFmt)
			}
			if r.Width != want[i][0] || r.Height != want[i][1] {
				t.Errorf("%dx%d, want %dx%d", r.Width, r.Height, want[i][0], want[i][1])
			}
			checkInvariants(t, in, r)
		})
	}
	if q50, q80 := rs[2], process(t, in, settings(only(config.Output{Format: "jpeg", MaxWidth: 300, MaxHeight: 300}))); q50.BytesOut >= q80.BytesOut {
		t.Errorf("the thumbnail at quality 50 is %d bytes, at the default quality %d; want the output's quality used", q50.BytesOut, q80.BytesOut)
	}
}

// TestResizedOutputIsNeverKeptOriginal: never bigger applies to outputs at
// the upload's own size; a smaller size in the same format is what was
// asked for, stored with the reason when it is larger than the upload.
func TestResizedOutputIsNeverKeptOriginal(t *testing.T) {
	in := fixture.Pattern(t, "plasma:fractal", 200, 150, "JPEG", fixture.Quality(10))
	s := settings(func(s *config.Settings) {
		s.Outputs = []config.Output{{Format: config.Original, Quality: 98}, {Format: config.Original, MaxWidth: 190, Quality: 98, Suffix: "-190"}}
	})
	rs, err := pipeline.Process(context.Background(), in, s)
	if err != nil {
		t.Fatal(err)
	}
	if r := rs[0]; r.Decision != outcome.KeptOriginal || outcome.Word(r.Reason) != outcome.ReasonNotSmaller {
		t.Errorf("same size: %s (%s), want kept-original as %q", r.Decision, r.Reason, outcome.ReasonNotSmaller)
	}
	if r := rs[1]; r.Decision != outcome.Compressed || r.Width != 190 || !strings.HasPrefix(r.Reason, outcome.ReasonLarger+": resized to 190x143") {
		t.Errorf("smaller size: %s %dpx (%s), want compressed at 190 px with reason %q", r.Decision, r.Width, r.Reason, outcome.ReasonLarger+": resized to 190x143; ...")
	}
}

// TestScaledDecode: when every output is much smaller than a JPEG, the JPEG
// is scaled while decoding (which then refuses an output it was not scaled
// for), and the outputs match what a full decode and resize give.
func TestScaledDecode(t *testing.T) {
	var in []byte
	if corpusPresent() {
		in = fixture.File(t, "exifpy_Xiaomi_Mi_9T_12MP_orient6.jpg") // 4000x3000 stored, shown 3000x4000
	} else {
		in = fixture.WithAPP1(fixture.Pattern(t, "plasma:fractal", 4000, 3000, "JPEG"), fixture.GPSExif(6))
	}
	small := settings(func(s *config.Settings) {
		s.Outputs = []config.Output{{Format: "webp", MaxWidth: 640}, {Format: config.Original, MaxWidth: 300, Suffix: "-300"}}
	})
	img, err := pipeline.Decode(context.Background(), in, small)
	if err != nil || img.Rejection() != "" {
		t.Fatalf("Decode: %v %s", err, img.Rejection())
	}
	defer img.Close()
	if _, err := img.Render(context.Background(), config.Output{Format: config.Original}); err == nil || !strings.Contains(err.Error(), "scaled") {
		t.Errorf("Render of a full-size output after a scaled decode: %v, want an error saying the JPEG was scaled for smaller outputs", err)
	}
	for _, o := range small.Outputs {
		r, err := img.Render(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		// With a full-size output beside it, the decode is not scaled.
		rs, err := pipeline.Process(context.Background(), in, settings(func(s *config.Settings) { s.Outputs = []config.Output{o, {Format: config.Original}} }))
		if err != nil {
			t.Fatal(err)
		}
		full := rs[0]
		if r.Width != full.Width || r.Height != full.Height || r.Width != o.MaxWidth {
			t.Errorf("%s: %dx%d from the scaled decode, %dx%d from a full one; want both %d wide", o.Name(), r.Width, r.Height, full.Width, full.Height, o.MaxWidth)
		}
		a, b := readBack(t, r.Output), readBack(t, full.Output)
		diff, d := a.CompareImages(b, imagick.METRIC_ROOT_MEAN_SQUARED_ERROR)
		diff.Destroy()
		t.Logf("%s: RMSE %.4f between the scaled and the full decode", o.Name(), d)
		if d > 0.02 {
			t.Errorf("%s: RMSE %.4f between the scaled and the full decode, want < 0.02", o.Name(), d)
		}
	}
}

// TestCheckOutputs: the start-up check agrees with what Process can write.
func TestCheckOutputs(t *testing.T) {
	if err := pipeline.CheckOutputs(config.Default()); err != nil {
		t.Errorf("CheckOutputs(defaults) = %v, want nil", err)
	}
	in := fixture.Pattern(t, "plasma:fractal", 64, 48, "PNG")
	for _, f := range outcome.ConversionTargets() {
		s := settings(func(s *config.Settings) {
			s.Outputs = []config.Output{{Format: config.Original}, {Format: string(f), Suffix: "-x"}}
		})
		checkErr := pipeline.CheckOutputs(s)
		rs, err := pipeline.Process(context.Background(), in, s)
		if err != nil {
			t.Fatal(err)
		}
		written := rs[1].Decision == outcome.Compressed && rs[1].FormatOut == f
		if written != (checkErr == nil) {
			t.Errorf("%s: CheckOutputs = %v, but Process gave %s (%s)", f, checkErr, rs[1].Decision, rs[1].Reason)
		}
		if checkErr != nil && !strings.Contains(checkErr.Error(), "outputs[1] ("+string(f)+"-x)") {
			t.Errorf("%s: CheckOutputs error %q does not name the output", f, checkErr)
		}
		t.Logf("%s: CheckOutputs %v", f, checkErr)
	}
}

// TestSixteenBitRenditions: a 16-bit PNG stays the original (an 8-bit build
// would truncate it), while its renditions, which are new images, are made
// at 8 bits in every format.
func TestSixteenBitRenditions(t *testing.T) {
	in := fixture.PNG16(t, 200, 300)
	s := settings(func(s *config.Settings) {
		s.Outputs = []config.Output{
			{Format: config.Original},
			{Format: "png", MaxHeight: 100, Suffix: "-small"},
			{Format: "webp", Suffix: "-web"},
			{Format: "jpeg", Suffix: "-photo"},
		}
		if avifWritable(t) {
			s.Outputs = append(s.Outputs, config.Output{Format: "avif", Suffix: "-web"})
		}
	})
	rs, err := pipeline.Process(context.Background(), in, s)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		o := s.Outputs[i]
		t.Run(o.Name(), func(t *testing.T) {
			if r.Decision == outcome.Rejected || r.Decision == outcome.Failed {
				t.Fatalf("%s (%s), want an output", r.Decision, r.Reason)
			}
			got := readBack(t, r.Output)
			if o.MaxHeight != 0 && int(got.GetImageHeight()) != o.MaxHeight {
				t.Errorf("height %d, want %d", got.GetImageHeight(), o.MaxHeight)
			}
		})
	}
}
