package pipeline_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// damageCase is a clean image made to carry one defect.
type damageCase struct {
	name   string
	clean  []byte
	damage func(t *testing.T, clean []byte) []byte
}

// TestBenignDamage: a file whose defect the decoder skips (junk, a missing
// end marker, an unreadable metadata chunk) is published, and shows exactly
// the pixels of the clean file.
func TestBenignDamage(t *testing.T) {
	photo := fixture.Pattern(t, "plasma:fractal", 400, 300, "JPEG")
	progressive := fixture.Pattern(t, "plasma:fractal", 400, 300, "JPEG", func(mw *imagick.MagickWand) error { return mw.SetInterlaceScheme(imagick.INTERLACE_JPEG) })
	// A flat logo: its last blocks end in the shortest code, all zero bits,
	// so a scan a byte short decodes to the same pixels.
	logo := fixture.Pattern(t, "xc:#2060c0", 256, 128, "JPEG")
	png := fixture.Pattern(t, "plasma:fractal", 160, 120, "PNG")
	gif := fixture.AnimatedGIF(t, 5)
	webp := fixture.Pattern(t, "plasma:fractal", 200, 150, "WEBP")
	for _, tc := range []damageCase{
		{"jpeg junk between header segments", photo, func(t *testing.T, b []byte) []byte { return insert(b, jpegAfterFirstSegment(t, b), []byte{0x00}) }},
		{"jpeg junk between progressive scans", progressive, func(t *testing.T, b []byte) []byte { return insert(b, jpegLastScan(t, b), []byte{1, 2, 3}) }},
		{"jpeg junk before EOI", photo, func(_ *testing.T, b []byte) []byte { return insert(b, len(b)-2, []byte{0x00, 0x7F, 0x00}) }},
		{"jpeg without EOI", photo, func(_ *testing.T, b []byte) []byte { return b[:len(b)-2] }},
		{"jpeg without the last byte of EOI", progressive, func(_ *testing.T, b []byte) []byte { return b[:len(b)-1] }},
		{"jpeg scan a byte short", logo, func(_ *testing.T, b []byte) []byte { return slices.Delete(slices.Clone(b), len(b)-3, len(b)-2) }},
		{"jpeg data after EOI", photo, func(_ *testing.T, b []byte) []byte { return append(slices.Clone(b), "trailing bytes"...) }},
		{"jpeg comment running past the end after the last scan", photo, func(_ *testing.T, b []byte) []byte {
			return insert(b, len(b)-2, []byte{0xFF, 0xFE, 0xFF, 0xF0})
		}},
		{"png without IEND", png, func(_ *testing.T, b []byte) []byte { return b[:len(b)-12] }},
		{"png cut inside a text chunk after the image data", png, func(_ *testing.T, b []byte) []byte {
			return insert(b, len(b)-12, fixture.PNGChunk("tEXt", []byte("Comment\x00written after the pixels")))[:len(b)+10]
		}},
		{"png bad CRC in an ancillary chunk", png, func(_ *testing.T, b []byte) []byte {
			c := fixture.PNGChunk("tEXt", []byte("Comment\x00x"))
			c[len(c)-1] ^= 0xFF
			return insertAfterIHDR(b, c)
		}},
		{"png unknown ancillary chunk", png, func(_ *testing.T, b []byte) []byte {
			return insertAfterIHDR(b, fixture.PNGChunk("prVt", []byte("private")))
		}},
		{"png data after IEND", png, func(_ *testing.T, b []byte) []byte { return append(slices.Clone(b), "trailing bytes"...) }},
		{"gif without trailer", gif, func(_ *testing.T, b []byte) []byte { return b[:len(b)-1] }},
		{"gif data after the trailer", gif, func(_ *testing.T, b []byte) []byte { return append(slices.Clone(b), "trailing bytes"...) }},
		{"gif unknown extension", gif, func(_ *testing.T, b []byte) []byte {
			return insert(b, gifAfterHeader(b), []byte("\x21\x99\x03abc\x00"))
		}},
		{"webp data after the RIFF", webp, func(_ *testing.T, b []byte) []byte { return append(slices.Clone(b), "trailing bytes"...) }},
		{"webp unknown chunk", webp, func(_ *testing.T, b []byte) []byte {
			out := append(slices.Clone(b), "ABCD\x04\x00\x00\x00wxyz"...)
			binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
			return out
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := process(t, tc.clean, config.Default())
			damaged := tc.damage(t, tc.clean)
			got := process(t, damaged, config.Default())
			if got.Decision == outcome.Rejected {
				t.Fatalf("rejected (%s); the decoder reads every pixel of this file", got.Reason)
			}
			checkInvariants(t, damaged, got)
			// The defect's bytes can make re-encoding not smaller, so the
			// damaged file is kept where the clean one was compressed: its
			// pixels are then the clean file's own.
			clean := want.Output
			if got.Decision == outcome.KeptOriginal && want.Decision != outcome.KeptOriginal {
				clean = tc.clean
			}
			a, b := readBack(t, clean), readBack(t, got.Output)
			diff, d := a.CompareImages(b, imagick.METRIC_ABSOLUTE_ERROR)
			diff.Destroy()
			if d != 0 {
				t.Errorf("%g pixels differ from the clean file's (%s, damaged %s)", d, want.Decision, got.Decision)
			}
		})
	}
}

// TestInventedPixels: a file whose decoder would run out of data, guess, or
// lose scans is rejected as corrupt, at every offset it is cut.
func TestInventedPixels(t *testing.T) {
	photo := fixture.Pattern(t, "plasma:fractal", 400, 300, "JPEG")
	progressive := fixture.Pattern(t, "plasma:fractal", 400, 300, "JPEG", func(mw *imagick.MagickWand) error { return mw.SetInterlaceScheme(imagick.INTERLACE_JPEG) })
	restarts := fixture.Pattern(t, "plasma:fractal", 400, 300, "JPEG", func(mw *imagick.MagickWand) error { return mw.SetOption("jpeg:restart-interval", "2") })
	png := fixture.Pattern(t, "plasma:fractal", 160, 120, "PNG")
	interlaced := fixture.Pattern(t, "plasma:fractal", 160, 120, "PNG", func(mw *imagick.MagickWand) error { return mw.SetInterlaceScheme(imagick.INTERLACE_PNG) })
	gif := fixture.AnimatedGIF(t, 5)
	webp := fixture.Pattern(t, "plasma:fractal", 200, 150, "WEBP")
	lossless := fixture.Pattern(t, "plasma:fractal", 200, 150, "WEBP", func(mw *imagick.MagickWand) error { return mw.SetOption("webp:lossless", "true") })
	var cases []damageCase
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"jpeg", photo}, {"progressive jpeg", progressive}, {"jpeg with restart markers", restarts},
		{"png", png}, {"interlaced png", interlaced}, {"gif", gif}, {"webp", webp}, {"lossless webp", lossless},
	} {
		for _, frac := range []float64{0.1, 0.5, 0.9, 0.99} {
			cases = append(cases, damageCase{
				fmt.Sprintf("%s cut at %g%%", c.name, 100*frac), c.data,
				func(_ *testing.T, b []byte) []byte { return b[:int(float64(len(b))*frac)] },
			})
		}
	}
	cases = append(cases,
		damageCase{"jpeg scan 64 bytes short", photo, func(_ *testing.T, b []byte) []byte {
			return slices.Delete(slices.Clone(b), len(b)-66, len(b)-2)
		}},
		damageCase{"progressive jpeg cut between scans", progressive, func(t *testing.T, b []byte) []byte { return b[:jpegLastScan(t, b)] }},
		damageCase{"progressive jpeg scans swallowed by a long comment", progressive, func(t *testing.T, b []byte) []byte {
			return insert(b, jpegLastScan(t, b)-200, []byte{0xFF, 0xFE, 0x01, 0x00})
		}},
		damageCase{"progressive jpeg comment running past the end", progressive, func(t *testing.T, b []byte) []byte {
			return insert(b, jpegLastScan(t, b), []byte{0xFF, 0xFE, 0xFF, 0xF0})
		}},
		damageCase{"jpeg markers inside the scan data", photo, func(_ *testing.T, b []byte) []byte {
			out := slices.Clone(b)
			for i := len(out) / 2; i < len(out)/2+40; i += 4 {
				out[i], out[i+1] = 0xFF, 0xD5
			}
			return out
		}},
		damageCase{"jpeg restart marker out of order", restarts, func(t *testing.T, b []byte) []byte {
			out := slices.Clone(b)
			i := bytes.Index(out[len(out)/2:], []byte{0xFF, 0xD3}) + len(out)/2
			out[i+1] = 0xD6
			return out
		}},
		damageCase{"png bad CRC in image data", png, func(_ *testing.T, b []byte) []byte {
			out := slices.Clone(b)
			i := bytes.Index(out, []byte("IDAT"))
			out[i+4+int(binary.BigEndian.Uint32(out[i-4:]))] ^= 0xFF
			return out
		}},
		damageCase{"png image data cut and closed with IEND", png, func(_ *testing.T, b []byte) []byte {
			i := bytes.Index(b, []byte("IDAT"))
			n := int(binary.BigEndian.Uint32(b[i-4:]))
			return append(slices.Clone(b[:i-4]), append(fixture.PNGChunk("IDAT", b[i+4:i+4+n/2]), b[len(b)-12:]...)...)
		}},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := process(t, tc.damage(t, tc.clean), config.Default())
			if got.Decision != outcome.Rejected || outcome.Word(got.Reason) != outcome.ReasonCorrupt {
				t.Fatalf("%s (%s), want rejected as %s", got.Decision, got.Reason, outcome.ReasonCorrupt)
			}
			t.Log(got.Reason)
		})
	}
}

// TestMetadataWarnings: the harmless warnings of a real photo (ImageMagick
// built without libxml cannot validate XMP) do not reject it.
func TestMetadataWarnings(t *testing.T) {
	if r := process(t, fixture.File(t, "exifsamples_nikon_d70s_gps.jpg"), config.Default()); r.Decision == outcome.Rejected {
		t.Errorf("rejected: %s", r.Reason)
	}
}

func insert(b []byte, at int, add []byte) []byte {
	return slices.Insert(slices.Clone(b), at, add...)
}

// jpegAfterFirstSegment is the offset after the segment that follows SOI.
func jpegAfterFirstSegment(t *testing.T, b []byte) int {
	t.Helper()
	if b[2] != 0xFF {
		t.Fatal("no marker after SOI")
	}
	return 4 + int(binary.BigEndian.Uint16(b[4:]))
}

// jpegLastScan is the offset of the last SOS marker.
func jpegLastScan(t *testing.T, b []byte) int {
	t.Helper()
	i := bytes.LastIndex(b, []byte{0xFF, 0xDA})
	if i < 0 {
		t.Fatal("no SOS marker")
	}
	return i
}

// gifAfterHeader is the offset after the logical screen descriptor and the
// global colour table.
func gifAfterHeader(b []byte) int {
	if b[10]&0x80 == 0 {
		return 13
	}
	return 13 + 3<<(int(b[10]&7)+1)
}
