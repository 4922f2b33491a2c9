package pngopt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/pngopt"
)

// images covers the colour types and depths, with content that filters and
// compresses differently: a photo-like gradient with noise, and flat shapes.
func images() map[string]image.Image {
	const w, h = 97, 61
	rgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	rgba64 := image.NewNRGBA64(rgba.Bounds())
	grey := image.NewGray(rgba.Bounds())
	grey16 := image.NewGray16(rgba.Bounds())
	pal := image.NewPaletted(rgba.Bounds(), palette.WebSafe)
	for y := range h {
		for x := range w {
			v := uint8((x*3 + y*5 + (x*y)%7) % 256)
			rgba.SetNRGBA(x, y, color.NRGBA{v, uint8(x * 2), uint8(255 - y*3), uint8(128 + x%128)})
			rgba64.SetNRGBA64(x, y, color.NRGBA64{uint16(v) * 257, uint16(x * 600), 999, 65535})
			grey.SetGray(x, y, color.Gray{v})
			grey16.SetGray16(x, y, color.Gray16{uint16(x*y) * 13})
			pal.SetColorIndex(x, y, uint8((x/8+y/8)%6*36))
		}
	}
	return map[string]image.Image{"NRGBA": rgba, "NRGBA64": rgba64, "Gray": grey, "Gray16": grey16, "Paletted": pal}
}

func encode(t *testing.T, img image.Image, level png.CompressionLevel) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: level}).Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func decode(t *testing.T, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the optimized PNG does not decode: %v", err)
	}
	return img
}

// samePixels compares two decoded images pixel by pixel at 16 bits.
func samePixels(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() || reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	for y := a.Bounds().Min.Y; y < a.Bounds().Max.Y; y++ {
		for x := a.Bounds().Min.X; x < a.Bounds().Max.X; x++ {
			if color.NRGBA64Model.Convert(a.At(x, y)) != color.NRGBA64Model.Convert(b.At(x, y)) {
				return false
			}
		}
	}
	return true
}

func TestSamePixelsFewerBytes(t *testing.T) {
	for name, img := range images() {
		for _, level := range []png.CompressionLevel{png.NoCompression, png.BestCompression} {
			in := encode(t, img, level)
			out, err := pngopt.Optimize(context.Background(), in, pngopt.Options{})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !samePixels(decode(t, in), decode(t, out)) {
				t.Errorf("%s (level %d): pixels changed", name, level)
			}
			if len(out) > len(in) {
				t.Errorf("%s (level %d): %d bytes, more than the input's %d", name, level, len(out), len(in))
			}
			if level == png.NoCompression && len(out) >= len(in)/2 {
				t.Errorf("%s stored uncompressed (%d bytes): optimized to %d, want less than half", name, len(in), len(out))
			}
		}
	}
}

// Every chunk but IDAT comes through unchanged and in order, split IDATs
// become one.
func TestChunksKept(t *testing.T) {
	in := encode(t, images()["NRGBA"], png.NoCompression)
	in = insertAfterIHDR(in, chunk("gAMA", []byte{0, 0, 0xb1, 0x8f}), chunk("tEXt", []byte("Comment\x00kept as it is")))
	in = splitIDAT(t, in)
	out, err := pngopt.Optimize(context.Background(), in, pngopt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"IHDR", "gAMA", "tEXt", "IDAT", "IEND"}
	if got := chunkTypes(out); !reflect.DeepEqual(got, want) {
		t.Errorf("chunks %v, want %v", got, want)
	}
	if !bytes.Contains(out, []byte("Comment\x00kept as it is")) {
		t.Error("the tEXt chunk's content changed")
	}
}

// Interlaced files keep their interlacing (the corpus has the PNG suite's).
func TestInterlaced(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join("..", "..", "..", "..", "shared", "corpus", "pngsuite_basi*.png"))
	if len(names) == 0 {
		t.Skip("shared corpus absent: no interlaced PNG to test with")
	}
	for _, name := range names {
		in, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pngopt.Optimize(context.Background(), in, pngopt.Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !samePixels(decode(t, in), decode(t, out)) {
			t.Errorf("%s: pixels changed", filepath.Base(name))
		}
		if out[28] != 1 {
			t.Errorf("%s: no longer interlaced", filepath.Base(name))
		}
	}
}

func TestRefuses(t *testing.T) {
	good := encode(t, images()["Gray"], png.DefaultCompression)
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"not a PNG": {[]byte("GIF89a...."), nil},
		"truncated": {good[:len(good)/2], nil},
		"animated":  {insertAfterIHDR(good, chunk("acTL", make([]byte, 8))), pngopt.ErrUnsupported},
	} {
		_, err := pngopt.Optimize(context.Background(), c.data, pngopt.Options{})
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: error %v, want %v", name, err, c.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := pngopt.Optimize(ctx, good, pngopt.Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error %v, want context.Canceled", err)
	}
}

func chunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// insertAfterIHDR puts chunks right after the 8-byte signature and the
// 25-byte IHDR chunk.
func insertAfterIHDR(png []byte, chunks ...[]byte) []byte {
	out := append([]byte(nil), png[:33]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, png[33:]...)
}

// splitIDAT rewrites the (single) IDAT of png as two chunks.
func splitIDAT(t *testing.T, png []byte) []byte {
	t.Helper()
	out := append([]byte(nil), png[:8]...)
	for pos := 8; pos < len(png); {
		n := int(binary.BigEndian.Uint32(png[pos:]))
		typ, data := string(png[pos+4:pos+8]), png[pos+8:pos+8+n]
		if typ == "IDAT" && n > 1 {
			out = append(out, chunk("IDAT", data[:n/2])...)
			out = append(out, chunk("IDAT", data[n/2:])...)
		} else {
			out = append(out, png[pos:pos+12+n]...)
		}
		pos += 12 + n
	}
	if got := chunkTypes(out); len(got) < 4 || got[len(got)-3] != "IDAT" || got[len(got)-2] != "IDAT" {
		t.Fatalf("could not split the IDAT: %v", got)
	}
	return out
}

func chunkTypes(png []byte) []string {
	var types []string
	for pos := 8; pos+8 <= len(png); {
		n := int(binary.BigEndian.Uint32(png[pos:]))
		types = append(types, string(png[pos+4:pos+8]))
		pos += 12 + n
	}
	return types
}
