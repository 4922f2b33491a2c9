package strip_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/png"
	"slices"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/strip"
)

// pngChunkTypes lists chunk types in order, checking each CRC on the way.
func pngChunkTypes(t *testing.T, data []byte) []string {
	t.Helper()
	var types []string
	for pos := 8; pos+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		body := data[pos+4 : pos+8+n]
		if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(data[pos+8+n:]) {
			t.Fatalf("chunk %q has a bad CRC", body[:4])
		}
		types = append(types, string(body[:4]))
		pos += 12 + n
	}
	return types
}

// pngChunkData returns the data of the first chunk of a type, or nil.
func pngChunkData(data []byte, typ string) []byte {
	for pos := 8; pos+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		if string(data[pos+4:pos+8]) == typ {
			return data[pos+8 : pos+8+n]
		}
		pos += 12 + n
	}
	return nil
}

func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// withChunks re-assembles a PNG, inserting chunks after IHDR and after IDAT.
func withChunks(t *testing.T, base []byte, afterIHDR, afterIDAT [][]byte) []byte {
	t.Helper()
	out := append([]byte{}, base[:8]...)
	for pos := 8; pos < len(base); {
		n := int(binary.BigEndian.Uint32(base[pos:]))
		typ := string(base[pos+4 : pos+8])
		out = append(out, base[pos:pos+12+n]...)
		switch typ {
		case "IHDR":
			out = slices.Concat(append([][]byte{out}, afterIHDR...)...)
		case "IDAT":
			out = slices.Concat(append([][]byte{out}, afterIDAT...)...)
		}
		pos += 12 + n
	}
	return out
}

func smallPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 13)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPNGChunks(t *testing.T) {
	base := smallPNG(t)
	colour := [][]byte{
		pngChunk("gAMA", []byte{0, 0, 0xB1, 0x8F}),
		pngChunk("cHRM", make([]byte, 32)),
		pngChunk("sRGB", []byte{0}),
		pngChunk("iCCP", []byte("icc\x00\x00fake")),
	}
	private := [][]byte{
		pngChunk("tEXt", []byte("GPS\x00somewhere")),
		pngChunk("zTXt", []byte("Comment\x00\x00x")),
		pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<GPS/>")),
		pngChunk("eXIf", exifWith(map[uint16]uint16{0x8825: 1})[6:]),
		pngChunk("tIME", []byte{7, 0xE8, 1, 2, 3, 4, 5}),
		pngChunk("prIv", []byte("GPS")),
	}
	in := withChunks(t, base, append(slices.Clone(colour), private[:3]...), private[3:])
	out, err := strip.PNG(append(in, "trailing GPS"...))
	if err != nil {
		t.Fatalf("PNG: %v", err)
	}
	got := pngChunkTypes(t, out)
	want := []string{"IHDR", "gAMA", "cHRM", "sRGB", "iCCP", "IDAT", "IEND"}
	if !slices.Equal(got, want) {
		t.Errorf("chunks after stripping = %v, want %v", got, want)
	}
	if bytes.Contains(out, []byte("GPS")) {
		t.Error("stripped PNG still contains GPS")
	}
}

func TestAnimatedPNG(t *testing.T) {
	base := smallPNG(t)
	actl := pngChunk("acTL", []byte{0, 0, 0, 1, 0, 0, 0, 0})
	fctl := pngChunk("fcTL", make([]byte, 26))
	fdat := pngChunk("fdAT", []byte{0, 0, 0, 1, 1, 2, 3})
	text := pngChunk("tEXt", []byte("Author\x00GPS"))
	apng := withChunks(t, base, [][]byte{actl, fctl, text}, [][]byte{fctl, fdat})
	if !strip.IsAnimatedPNG(apng) {
		t.Error("IsAnimatedPNG = false for acTL before IDAT")
	}
	if late := withChunks(t, base, nil, [][]byte{actl}); strip.IsAnimatedPNG(late) {
		t.Error("IsAnimatedPNG = true for acTL after IDAT (not an APNG by the spec)")
	}
	if strip.IsAnimatedPNG(base) {
		t.Error("IsAnimatedPNG = true for a plain PNG")
	}
	out, err := strip.PNG(apng)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"IHDR", "acTL", "fcTL", "IDAT", "fcTL", "fdAT", "IEND"}
	if got := pngChunkTypes(t, out); !slices.Equal(got, want) {
		t.Errorf("APNG chunks after stripping = %v, want %v", got, want)
	}
}

func TestPNGCorpus(t *testing.T) {
	for _, name := range []string{"pngsuite_exif2c08.png", "pngsuite_ctjn0g04.png", "pngsuite_g03n2c08.png", "pngsuite_ccwn3p08.png", "libvips_sample_16bit_rgb.png"} {
		t.Run(name, func(t *testing.T) {
			in := fixture.File(t, name)
			out, err := strip.PNG(in)
			if err != nil {
				t.Fatalf("PNG: %v", err)
			}
			for _, typ := range pngChunkTypes(t, out) {
				if slices.Contains([]string{"tEXt", "zTXt", "iTXt", "tIME"}, typ) {
					t.Errorf("chunk %s survived stripping", typ)
				}
			}
			if exif := pngChunkData(out, "eXIf"); exif != nil && minimalOrientation(t, exif) == 0 {
				t.Error("eXIf survived stripping without an orientation")
			}
			for _, typ := range pngChunkTypes(t, in) {
				if slices.Contains([]string{"gAMA", "cHRM", "sRGB", "iCCP", "tRNS", "PLTE"}, typ) && !slices.Contains(pngChunkTypes(t, out), typ) {
					t.Errorf("chunk %s was dropped, want kept", typ)
				}
			}
			assertSamePixels(t, in, out)
		})
	}
}

func TestPNGKeepsOrientation(t *testing.T) {
	exif := pngChunk("eXIf", exifWith(map[uint16]uint16{0x0112: 6, 0x8825: 1})[6:])
	out, err := strip.PNG(withChunks(t, smallPNG(t), [][]byte{exif}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := minimalOrientation(t, pngChunkData(out, "eXIf")); got != 6 {
		t.Errorf("orientation in stripped eXIf = %d, want 6", got)
	}
	if bytes.Contains(out, []byte("GPS")) {
		t.Error("GPS survived")
	}
}

func TestCopyPNGColour(t *testing.T) {
	gama := pngChunk("gAMA", []byte{0, 0, 0x88, 0xB8})
	chrm := pngChunk("cHRM", make([]byte, 32))
	original := withChunks(t, smallPNG(t), [][]byte{gama, pngChunk("tEXt", []byte("a\x00b"))}, nil)
	// An encoder's output that lost gAMA, invented cHRM and added bKGD.
	encoded := withChunks(t, smallPNG(t), [][]byte{chrm, pngChunk("bKGD", []byte{0, 0, 0, 0, 0, 0})}, nil)
	out, err := strip.CopyPNGColour(encoded, original)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pngChunkTypes(t, out), []string{"IHDR", "gAMA", "bKGD", "IDAT", "IEND"}; !slices.Equal(got, want) {
		t.Errorf("chunks %v, want %v", got, want)
	}
	if !bytes.Equal(pngChunkData(out, "gAMA"), []byte{0, 0, 0x88, 0xB8}) {
		t.Error("gAMA value changed")
	}
	assertSamePixels(t, encoded, out)
	if _, err := strip.CopyPNGColour(encoded, original[:len(original)-12]); !errors.Is(err, strip.ErrMalformed) {
		t.Errorf("truncated original: %v, want ErrMalformed", err)
	}
}
