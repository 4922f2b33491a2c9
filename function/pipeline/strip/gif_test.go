package strip_test

import (
	"bytes"
	"image/gif"
	"reflect"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/strip"
)

// insertAfterScreen puts extension blocks right after the header, logical
// screen descriptor and global colour table, if any.
func insertAfterScreen(data []byte, blocks ...[]byte) []byte {
	n := 13
	if data[10]&0x80 != 0 {
		n += 3 << (data[10]&7 + 1)
	}
	out := append([]byte{}, data[:n]...)
	for _, b := range blocks {
		out = append(out, b...)
	}
	return append(out, data[n:]...)
}

func appExt(id string, data []byte) []byte {
	b := append([]byte{0x21, 0xFF, 11}, id...)
	b = append(b, byte(len(data)))
	b = append(b, data...)
	return append(b, 0)
}

func TestGIFExtensions(t *testing.T) {
	base := fixture.AnimatedGIF(t, 3)
	comment := []byte{0x21, 0xFE, 3, 'G', 'P', 'S', 0}
	in := insertAfterScreen(base, comment, appExt("XMP DataXMP", []byte("<GPS/>")), appExt("NETSCAPE2.0", []byte{1, 0, 0}))
	out, err := strip.GIF(append(in, "trailing GPS"...))
	if err != nil {
		t.Fatalf("GIF: %v", err)
	}
	if bytes.Contains(out, []byte("GPS")) {
		t.Error("stripped GIF still contains GPS")
	}
	if !bytes.Contains(out, []byte("NETSCAPE2.0")) {
		t.Error("looping extension was dropped")
	}
	a, err := gif.DecodeAll(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	b, err := gif.DecodeAll(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("stripped GIF does not decode: %v", err)
	}
	if !reflect.DeepEqual(a.Image, b.Image) || !reflect.DeepEqual(a.Delay, b.Delay) || a.LoopCount != b.LoopCount {
		t.Errorf("frames/delays/loop changed: %d frames %v loop %d, want %d frames %v loop %d",
			len(b.Image), b.Delay, b.LoopCount, len(a.Image), a.Delay, a.LoopCount)
	}
}

func TestGIFCorpus(t *testing.T) {
	for _, name := range []string{"pillow_iss634_animated.gif", "libvips_cogs_animated.gif"} {
		in := fixture.File(t, name)
		out, err := strip.GIF(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		a, err := gif.DecodeAll(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		b, err := gif.DecodeAll(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("%s: stripped GIF does not decode: %v", name, err)
		}
		if !reflect.DeepEqual(a.Image, b.Image) || !reflect.DeepEqual(a.Delay, b.Delay) || a.LoopCount != b.LoopCount {
			t.Errorf("%s: frames, delays or loop count changed by stripping", name)
		}
	}
}
