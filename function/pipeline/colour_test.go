package pipeline_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"testing"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// testICC is a small but complete ICC v2 RGB display profile (sRGB-like
// primaries, gamma 2.2), valid enough for libpng to accept it in iCCP and
// recognisable byte for byte.
func testICC() []byte {
	xyz := func(x, y, z float64) []byte {
		b := []byte("XYZ \x00\x00\x00\x00")
		for _, v := range []float64{x, y, z} {
			b = binary.BigEndian.AppendUint32(b, uint32(int32(v*65536)))
		}
		return b
	}
	curve := []byte("curv\x00\x00\x00\x00\x00\x00\x00\x01\x02\x33\x00\x00") // gamma 2.2 (u8.8)
	desc := append([]byte("desc\x00\x00\x00\x00\x00\x00\x00\x05test\x00"), make([]byte, 78)...)
	tags := []struct {
		sig  string
		data []byte
	}{
		{"desc", desc}, {"wtpt", xyz(0.9642, 1, 0.8249)},
		{"rXYZ", xyz(0.4361, 0.2225, 0.0139)}, {"gXYZ", xyz(0.3851, 0.7169, 0.0971)}, {"bXYZ", xyz(0.1431, 0.0606, 0.7141)},
		{"rTRC", curve}, {"gTRC", curve}, {"bTRC", curve}, {"cprt", []byte("text\x00\x00\x00\x00none\x00\x00\x00\x00")},
	}
	header := make([]byte, 128)
	copy(header[4:], "test")
	binary.BigEndian.PutUint32(header[8:], 0x02100000) // version 2.1
	copy(header[12:], "mntrRGB XYZ ")
	copy(header[36:], "acsp")
	binary.BigEndian.PutUint32(header[68:], 0x0000F6D6) // D50
	binary.BigEndian.PutUint32(header[72:], 0x00010000)
	binary.BigEndian.PutUint32(header[76:], 0x0000D32D)
	table := binary.BigEndian.AppendUint32(nil, uint32(len(tags)))
	var data []byte
	offset := 128 + 4 + 12*len(tags)
	for _, tag := range tags {
		table = append(table, tag.sig...)
		table = binary.BigEndian.AppendUint32(table, uint32(offset+len(data)))
		table = binary.BigEndian.AppendUint32(table, uint32(len(tag.data)))
		data = append(data, tag.data...)
		for len(data)%4 != 0 {
			data = append(data, 0)
		}
	}
	profile := append(append(header, table...), data...)
	binary.BigEndian.PutUint32(profile, uint32(len(profile)))
	return profile
}

// uncompressedPNG is a smooth image stored without compression by Go's
// encoder (which writes no colour chunks), so the pipeline's output is
// smaller and compressed rather than kept. grey makes every pixel grey, which
// ImageMagick would write as a grey PNG.
func uncompressedPNG(t *testing.T, grey bool) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 128, 96))
	for y := range 96 {
		for x := range 128 {
			c := color.NRGBA{uint8(x * 2), uint8(y * 2), 128, 255}
			if grey {
				c.G, c.B = c.R, c.R
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// chunkData returns the data of a PNG's first chunk of a type, or nil.
func chunkData(data []byte, typ string) []byte {
	for pos := 8; pos+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		if pos+12+n > len(data) {
			return nil
		}
		if string(data[pos+4:pos+8]) == typ {
			return data[pos+8 : pos+8+n]
		}
		pos += 12 + n
	}
	return nil
}

// TestPNGColourChunksKept: gAMA and cHRM (or an ICC profile) decide how a
// PNG renders; stripping metadata must keep them, values unchanged.
func TestPNGColourChunksKept(t *testing.T) {
	gama := binary.BigEndian.AppendUint32(nil, 35000) // gamma 0.35, far from sRGB's
	chrm := make([]byte, 32)
	for i, v := range []uint32{31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000} {
		binary.BigEndian.PutUint32(chrm[4*i:], v)
	}
	iccp := append([]byte("test profile\x00\x00"), zlibCompress(t, testICC())...)
	for _, tc := range []struct {
		name   string
		grey   bool
		chunks map[string][]byte
	}{
		{"gAMA and cHRM", false, map[string][]byte{"gAMA": gama, "cHRM": chrm}},
		{"gAMA alone", false, map[string][]byte{"gAMA": gama}},
		{"iCCP", false, map[string][]byte{"iCCP": iccp}},
		{"iCCP on grey-looking RGB", true, map[string][]byte{"iCCP": iccp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra [][]byte
			for typ, data := range tc.chunks {
				extra = append(extra, fixture.PNGChunk(typ, data))
			}
			text := fixture.PNGChunk("tEXt", []byte("Author\x00someone"))
			in := insertAfterIHDR(uncompressedPNG(t, tc.grey), append(extra, text)...)
			r := process(t, in, config.Default())
			if r.Decision != outcome.Compressed {
				t.Fatalf("%s (%s), want compressed", r.Decision, r.Reason)
			}
			for _, typ := range []string{"gAMA", "cHRM", "sRGB", "iCCP"} {
				if _, ok := tc.chunks[typ]; !ok && chunkData(r.Output, typ) != nil {
					t.Errorf("the output has a %s chunk the input did not have", typ)
				}
			}
			checkLossless(t, in, r)
			for typ, want := range tc.chunks {
				got := chunkData(r.Output, typ)
				if typ == "iCCP" {
					// Read back, so libpng checks the profile against the colour type.
					if got == nil || readBack(t, r.Output).GetImageProfile("icc") != string(testICC()) {
						t.Errorf("the ICC profile did not survive (iCCP chunk %d bytes, colour type %d)", len(got), r.Output[25])
					}
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s = % x after processing, want % x", typ, got, want)
				}
			}
			if chunkData(r.Output, "tEXt") != nil {
				t.Error("the tEXt chunk survived")
			}
		})
	}
}

// TestICCKeptInJPEG: the colour profile of a photo survives, its EXIF does not.
func TestICCKeptInJPEG(t *testing.T) {
	in := fixture.WithAPP1(fixture.Pattern(t, "plasma:fractal", 300, 200, "JPEG", func(mw *imagick.MagickWand) error {
		return firstErr(mw.SetImageCompressionQuality(98), mw.SetImageProfile("icc", testICC()))
	}), fixture.GPSExif(1))
	r := process(t, in, config.Default())
	if r.Decision != outcome.Compressed {
		t.Fatalf("%s (%s), want compressed", r.Decision, r.Reason)
	}
	mw := readBack(t, r.Output)
	if got := mw.GetImageProfile("icc"); got != string(testICC()) {
		t.Errorf("ICC profile after processing: %d bytes, want the input's %d", len(got), len(testICC()))
	}
	checkNoPrivate(t, mw)
}

func zlibCompress(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
