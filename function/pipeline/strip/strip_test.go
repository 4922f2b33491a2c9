package strip_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"slices"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline/strip"
)

// segment is one JPEG marker segment as the test sees it.
type segment struct {
	marker  byte
	payload []byte
}

// jpegSegments lists the header segments up to the first SOS; the test's own
// independent walker, so a bug in the stripper does not hide itself.
func jpegSegments(t *testing.T, data []byte) []segment {
	t.Helper()
	var segs []segment
	for pos := 2; pos+4 <= len(data); {
		if data[pos] != 0xFF {
			t.Fatalf("no marker at %d", pos)
		}
		m := data[pos+1]
		n := int(binary.BigEndian.Uint16(data[pos+2:]))
		segs = append(segs, segment{m, data[pos+4 : pos+2+n]})
		if m == 0xDA {
			break
		}
		pos += 2 + n
	}
	return segs
}

// jpegHeader is the part of a JPEG before the entropy-coded data of its first
// scan, where metadata lives; compressed data may contain any three bytes.
func jpegHeader(t *testing.T, data []byte) []byte {
	t.Helper()
	n := 2
	for _, s := range jpegSegments(t, data) {
		n += 4 + len(s.payload)
	}
	return data[:n]
}

func hasSegment(segs []segment, marker byte, prefix string) bool {
	return slices.ContainsFunc(segs, func(s segment) bool {
		return s.marker == marker && bytes.HasPrefix(s.payload, []byte(prefix))
	})
}

// private lists byte strings that betray private metadata anywhere in a file.
var private = []string{"GPS", "http://ns.adobe.com/xap", "Photoshop 3.0", "Nikon", "Apple"}

func assertNoPrivate(t *testing.T, out []byte) {
	t.Helper()
	for _, p := range private {
		if bytes.Contains(out, []byte(p)) {
			t.Errorf("stripped output still contains %q", p)
		}
	}
}

func TestJPEGCorpusDropsGPSKeepsPixels(t *testing.T) {
	for _, tc := range []struct {
		name        string
		orientation uint16 // expected Orientation in the minimal Exif, 0 = none
	}{
		{"exifsamples_DSCN0010_gps.jpg", 1},
		{"exifsamples_nikon_d70s_gps.jpg", 1},
		{"exifpy_Xiaomi_Mi_9T_12MP_orient6.jpg", 6},
		{"recurser_Landscape_5_orient5.jpg", 5},
		{"exifsamples_iphone6_hdr_NO_gps.jpg", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := fixture.File(t, tc.name)
			out, err := strip.JPEG(in)
			if err != nil {
				t.Fatalf("JPEG: %v", err)
			}
			if len(out) >= len(in) {
				t.Errorf("stripped %d bytes, want fewer than the original %d", len(out), len(in))
			}
			assertNoPrivate(t, jpegHeader(t, out))
			segs := jpegSegments(t, out)
			for _, s := range segs {
				if s.marker == 0xED || s.marker == 0xFE || (s.marker >= 0xE3 && s.marker <= 0xEF && s.marker != 0xEE) {
					t.Errorf("segment 0x%02X survived stripping", s.marker)
				}
			}
			if got := exifOrientation(t, segs); got != tc.orientation {
				t.Errorf("orientation in stripped Exif = %d, want %d", got, tc.orientation)
			}
			assertSamePixels(t, in, out)
		})
	}
}

// exifOrientation reads the minimal Exif segment: exactly one IFD entry,
// Orientation. Any other Exif content fails the test.
func exifOrientation(t *testing.T, segs []segment) uint16 {
	t.Helper()
	var found uint16
	for _, s := range segs {
		if s.marker != 0xE1 {
			continue
		}
		p, ok := bytes.CutPrefix(s.payload, []byte("Exif\x00\x00"))
		if !ok {
			t.Fatalf("APP1 segment is not Exif: % x", s.payload[:min(len(s.payload), 40)])
		}
		if found != 0 {
			t.Fatal("two Exif segments")
		}
		found = minimalOrientation(t, p)
	}
	return found
}

// minimalOrientation checks that a TIFF-structured EXIF block holds exactly
// one IFD0 entry, Orientation (SHORT), and no next IFD, and returns its value;
// nil returns 0.
func minimalOrientation(t *testing.T, tiff []byte) uint16 {
	t.Helper()
	if tiff == nil {
		return 0
	}
	if len(tiff) != 26 || !bytes.HasPrefix(tiff, []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01")) ||
		!bytes.HasSuffix(tiff, []byte{0, 0, 0, 0, 0, 0}) {
		t.Fatalf("EXIF block is not the minimal orientation-only block: % x", tiff)
	}
	return binary.BigEndian.Uint16(tiff[18:])
}

func assertSamePixels(t *testing.T, a, b []byte) {
	t.Helper()
	ia, _, err := image.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatalf("decode original: %v", err)
	}
	ib, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode stripped: %v", err)
	}
	if ia.Bounds() != ib.Bounds() {
		t.Fatalf("bounds %v after stripping, want %v", ib.Bounds(), ia.Bounds())
	}
	r := ia.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 7 {
		for x := r.Min.X; x < r.Max.X; x += 7 {
			if ca, cb := color.NRGBA64Model.Convert(ia.At(x, y)), color.NRGBA64Model.Convert(ib.At(x, y)); ca != cb {
				t.Fatalf("pixel (%d,%d) = %v after stripping, want %v", x, y, cb, ca)
			}
		}
	}
}

// syntheticJPEG is a small baseline JPEG with extra segments inserted after
// SOI and data appended after EOI.
func syntheticJPEG(t *testing.T, extra []segment, trailer []byte) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	enc := buf.Bytes()
	out := []byte{0xFF, 0xD8}
	for _, s := range extra {
		out = append(out, 0xFF, s.marker)
		out = binary.BigEndian.AppendUint16(out, uint16(len(s.payload)+2))
		out = append(out, s.payload...)
	}
	out = append(out, enc[2:]...)
	return append(out, trailer...)
}

// exifWith builds an Exif payload whose IFD0 holds the given SHORT tags
// (little-endian, to exercise the other byte order).
func exifWith(tags map[uint16]uint16) []byte {
	keys := slices.Sorted(func(yield func(uint16) bool) {
		for k := range tags {
			if !yield(k) {
				return
			}
		}
	})
	b := []byte("Exif\x00\x00II\x2a\x00\x08\x00\x00\x00")
	b = binary.LittleEndian.AppendUint16(b, uint16(len(keys)))
	for _, k := range keys {
		b = binary.LittleEndian.AppendUint16(b, k)
		b = binary.LittleEndian.AppendUint16(b, 3)
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = binary.LittleEndian.AppendUint16(b, tags[k])
		b = append(b, 0, 0)
	}
	return append(b, 0, 0, 0, 0, 'G', 'P', 'S', '!')
}

func TestJPEGSegments(t *testing.T) {
	icc := []byte("ICC_PROFILE\x00\x01\x01fake-profile")
	trailer := syntheticJPEG(t, []segment{{0xE1, exifWith(map[uint16]uint16{0x8825: 1})}}, nil)
	for _, tc := range []struct {
		name        string
		extra       []segment
		trailer     []byte
		keep        []segment // must be present afterwards
		orientation uint16
	}{
		{name: "exif with orientation and GPS pointer", extra: []segment{{0xE1, exifWith(map[uint16]uint16{0x0112: 8, 0x8825: 1})}}, orientation: 8},
		{name: "exif without orientation", extra: []segment{{0xE1, exifWith(map[uint16]uint16{0x8825: 1})}}},
		{name: "xmp, iptc, comment, jfxx, app3", extra: []segment{
			{0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:GPS/>")},
			{0xED, []byte("Photoshop 3.0\x00GPS")},
			{0xFE, []byte("GPS comment")},
			{0xE0, []byte("JFXX\x00\x10GPS")},
			{0xE3, []byte("GPS meta")},
		}},
		{name: "icc and adobe kept", extra: []segment{{0xE2, icc}, {0xEE, []byte("Adobe\x00\x64\x00\x00\x00\x00\x01")}},
			keep: []segment{{0xE2, icc}, {0xEE, []byte("Adobe")}}},
		{name: "mpf index and trailing image dropped", extra: []segment{{0xE2, []byte("MPF\x00GPS")}}, trailer: trailer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := syntheticJPEG(t, tc.extra, tc.trailer)
			out, err := strip.JPEG(in)
			if err != nil {
				t.Fatalf("JPEG: %v", err)
			}
			assertNoPrivate(t, out)
			segs := jpegSegments(t, out)
			for _, k := range tc.keep {
				if !hasSegment(segs, k.marker, string(k.payload)) {
					t.Errorf("segment 0x%02X %q was dropped, want kept", k.marker, k.payload)
				}
			}
			if got := exifOrientation(t, segs); got != tc.orientation {
				t.Errorf("orientation = %d, want %d", got, tc.orientation)
			}
			if !bytes.HasSuffix(out, []byte{0xFF, 0xD9}) {
				t.Error("output does not end with EOI")
			}
			assertSamePixels(t, in, out)
		})
	}
}

func TestMalformed(t *testing.T) {
	good := syntheticJPEG(t, nil, nil)
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		format outcome.Format
		data   []byte
	}{
		{"jpeg truncated in entropy data", "jpeg", good[:len(good)-10]},
		{"jpeg segment length beyond file", "jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x40, 0x00, 0x00}},
		{"jpeg without SOI", "jpeg", []byte("not a jpeg")},
		{"png truncated before IEND", "png", pngBuf.Bytes()[:pngBuf.Len()-12]},
		{"png chunk beyond file", "png", append([]byte("\x89PNG\r\n\x1a\n"), 0x7F, 0, 0, 0, 'I', 'H', 'D', 'R', 0, 0, 0, 0)},
		{"webp riff size beyond file", "webp", []byte("RIFF\xff\x00\x00\x00WEBPVP8L")},
		{"webp chunk beyond file", "webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8L\xff\x00\x00\x00")},
		{"gif without trailer", "gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00")},
		{"gif unknown block", "gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00\x99")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := strip.Strip(tc.format, tc.data); !errors.Is(err, strip.ErrMalformed) {
				t.Errorf("Strip = %d bytes, %v; want ErrMalformed", len(out), err)
			}
		})
	}
	for _, f := range []outcome.Format{outcome.TIFF, outcome.HEIC, outcome.AVIF, ""} {
		if _, err := strip.Strip(f, good); !errors.Is(err, strip.ErrUnsupported) {
			t.Errorf("Strip(%q) error = %v, want ErrUnsupported", f, err)
		}
	}
}
