package pipeline_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// hasGPS reports whether ImageMagick finds EXIF GPS fields in an image.
func hasGPS(t *testing.T, data []byte) bool {
	t.Helper()
	return len(readBack(t, data).GetImageProperties("exif:GPS*")) > 0
}

// TestGPSNeverLeaks runs photos with GPS through both paths: re-encoding
// (default settings) and keeping the original (settings under which
// re-encoding cannot win: fixed quality 100, no chroma subsampling).
func TestGPSNeverLeaks(t *testing.T) {
	keepSettings := config.Default()
	keepSettings.JPEG.Quality, keepSettings.JPEG.TargetScore = 100, 0
	keepSettings.JPEG.Sampling = "4:4:4"
	inputs := map[string][]byte{"generated_gps.jpg": fixture.WithAPP1(fixture.Pattern(t, "plasma:fractal", 300, 200, "JPEG"), fixture.GPSExif(1))}
	if corpusPresent() {
		for _, name := range []string{"exifsamples_DSCN0010_gps.jpg", "exifsamples_nikon_d70s_gps.jpg", "exifsamples_iphone6_hdr_NO_gps.jpg"} {
			inputs[name] = fixture.File(t, name)
		}
	}
	for name, in := range inputs {
		if !hasGPS(t, in) {
			t.Fatalf("%s: the input has no GPS fields, so this test would prove nothing", name)
		}
		for _, tc := range []struct {
			path string
			s    config.Settings
			want outcome.Decision
		}{
			{"re-encoded", config.Default(), outcome.Compressed},
			{"kept original", keepSettings, outcome.KeptOriginal},
		} {
			t.Run(name+"/"+tc.path, func(t *testing.T) {
				r, err := processOne(t, context.Background(), in, tc.s)
				if err != nil {
					t.Fatal(err)
				}
				if r.Decision != tc.want {
					t.Fatalf("decision %s (%s), want %s", r.Decision, r.Reason, tc.want)
				}
				if hasGPS(t, r.Output) {
					t.Error("GPS fields survived")
				}
				checkNoPrivate(t, readBack(t, r.Output))
			})
		}
	}
}

// insertAfterIHDR puts chunks right after a PNG's IHDR (8-byte signature,
// 25-byte IHDR chunk).
func insertAfterIHDR(png []byte, chunks ...[]byte) []byte {
	return bytes.Join([][]byte{png[:33], bytes.Join(chunks, nil), png[33:]}, nil)
}

func TestPNGMetadataGone(t *testing.T) {
	base := fixture.Pattern(t, "plasma:fractal", 64, 64, "PNG")
	gps := fixture.PNGChunk("eXIf", fixture.GPSExif(1)[6:])
	text := fixture.PNGChunk("tEXt", []byte("Comment\x00taken at home"))
	inputs := map[string][]byte{"generated_exif_gps.png": insertAfterIHDR(base, gps, text)}
	if corpusPresent() {
		inputs["pngsuite_exif2c08.png"] = fixture.File(t, "pngsuite_exif2c08.png")
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			if len(readBack(t, in).GetImageProperties("exif:*")) == 0 {
				t.Fatal("the input has no EXIF fields, so this test would prove nothing")
			}
			r, err := processOne(t, context.Background(), in, config.Default())
			if err != nil {
				t.Fatal(err)
			}
			if r.Decision == outcome.Rejected {
				t.Fatalf("rejected: %s", r.Reason)
			}
			checkNoPrivate(t, readBack(t, r.Output))
			for _, chunk := range []string{"tEXt", "zTXt", "iTXt", "tIME"} {
				if bytes.Contains(r.Output, []byte(chunk)) {
					t.Errorf("%s output contains a %s chunk", r.Decision, chunk)
				}
			}
		})
	}
}
