package strip_test

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/strip"
)

func riffChunk(typ string, data []byte) []byte {
	b := append([]byte(typ), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func riff(chunks ...[]byte) []byte {
	body := slices.Concat(chunks...)
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)))...)
	return append(append(b, "WEBP"...), body...)
}

// webpChunks lists chunk types and checks the RIFF size.
func webpChunks(t *testing.T, data []byte) (types []string, vp8xFlags byte) {
	t.Helper()
	if got := int(binary.LittleEndian.Uint32(data[4:])); got != len(data)-8 {
		t.Fatalf("RIFF size %d, want %d", got, len(data)-8)
	}
	for pos := 12; pos < len(data); {
		typ := string(data[pos : pos+4])
		n := int(binary.LittleEndian.Uint32(data[pos+4:]))
		if typ == "VP8X" {
			vp8xFlags = data[pos+8]
		}
		types = append(types, typ)
		pos += 8 + n + n%2
	}
	return types, vp8xFlags
}

func TestWebPChunks(t *testing.T) {
	// VP8X flags: ICC 0x20, alpha 0x10, EXIF 0x08, XMP 0x04.
	vp8x := []byte{0x20 | 0x10 | 0x08 | 0x04, 0, 0, 0, 7, 0, 0, 7, 0, 0}
	in := riff(
		riffChunk("VP8X", vp8x),
		riffChunk("ICCP", []byte("fake icc")),
		riffChunk("ALPH", []byte{1, 2, 3}), // odd length: padded
		riffChunk("VP8L", []byte{0x2f, 7, 0xc0, 0x01, 0}),
		riffChunk("EXIF", exifWith(map[uint16]uint16{0x8825: 1})),
		riffChunk("XMP ", []byte("<GPS/>")),
		riffChunk("UNKN", []byte("GPS")),
	)
	out, err := strip.WebP(append(in, "trailing"...))
	if err != nil {
		t.Fatalf("WebP: %v", err)
	}
	types, flags := webpChunks(t, out)
	if want := []string{"VP8X", "ICCP", "ALPH", "VP8L"}; !slices.Equal(types, want) {
		t.Errorf("chunks = %v, want %v", types, want)
	}
	if flags != 0x30 {
		t.Errorf("VP8X flags = %#x, want 0x30 (ICC and alpha kept, EXIF and XMP cleared)", flags)
	}
}

func TestWebPCorpusUnchanged(t *testing.T) {
	// Simple-format WebP files cannot carry metadata: stripping keeps every byte.
	for _, name := range []string{"libwebptd_lossless_color_transform.webp", "pillow_transparent.webp", "libwebptd_lossy_alpha1.webp"} {
		in := fixture.File(t, name)
		out, err := strip.WebP(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(out) != string(in) {
			t.Errorf("%s: %d bytes after stripping, want the %d original bytes unchanged", name, len(out), len(in))
		}
	}
}

func TestWebPKeepsOrientation(t *testing.T) {
	in := riff(
		riffChunk("VP8X", []byte{0x08 | 0x04, 0, 0, 0, 7, 0, 0, 7, 0, 0}),
		riffChunk("VP8L", []byte{0x2f, 7, 0xc0, 0x01, 0}),
		riffChunk("EXIF", exifWith(map[uint16]uint16{0x0112: 3, 0x8825: 1})),
		riffChunk("XMP ", []byte("<GPS/>")),
	)
	out, err := strip.WebP(in)
	if err != nil {
		t.Fatal(err)
	}
	types, flags := webpChunks(t, out)
	if want := []string{"VP8X", "VP8L", "EXIF"}; !slices.Equal(types, want) {
		t.Errorf("chunks = %v, want %v", types, want)
	}
	if flags != 0x08 {
		t.Errorf("VP8X flags = %#x, want 0x08 (EXIF kept for the orientation, XMP cleared)", flags)
	}
	exif := out[len(out)-26:]
	if got := minimalOrientation(t, exif); got != 3 {
		t.Errorf("orientation = %d, want 3", got)
	}
}
