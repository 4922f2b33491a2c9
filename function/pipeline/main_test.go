package pipeline_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

// testMemory stands in for the Lambda's memory size.
const testMemory = 512 << 20

func TestMain(m *testing.M) {
	if err := pipeline.Initialize(testMemory); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	pipeline.Terminate()
	os.Exit(code)
}

// corpusDir is ../shared/corpus relative to the repository root, which is
// two levels above this package; "" when it is absent.
func corpusDir() string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpus")
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST.tsv")); err != nil {
		return ""
	}
	return dir
}

// sample is one test image with its corpus category.
type sample struct {
	name, category string
	data           []byte
}

// corpus returns the shared corpus listed in MANIFEST.tsv or, when it is
// absent, images generated with ImageMagick's patterns in the same categories
// (and says so).
func corpus(t testing.TB) []sample {
	t.Helper()
	dir := corpusDir()
	if dir == "" {
		t.Log("shared corpus absent: using images generated with ImageMagick patterns instead")
		return generatedCorpus(t)
	}
	manifest, err := os.ReadFile(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var samples []sample
	sc := bufio.NewScanner(bytes.NewReader(manifest))
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < 2 {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, fields[0]))
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, sample{fields[0], fields[1], data})
	}
	return samples
}

// corpusFile returns one corpus file, or skips when the corpus is absent.
func corpusFile(t testing.TB, name string) []byte {
	t.Helper()
	dir := corpusDir()
	if dir == "" {
		t.Skipf("shared corpus absent: %s is needed for this test", name)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readBack decodes an output with ImageMagick, as a consumer would.
func readBack(t testing.TB, data []byte) *imagick.MagickWand {
	t.Helper()
	mw := imagick.NewMagickWand()
	t.Cleanup(mw.Destroy)
	if err := mw.ReadImageBlob(data); err != nil {
		t.Fatalf("output does not decode: %v", err)
	}
	return mw
}

// pattern renders one of ImageMagick's built-in patterns ("plasma:fractal",
// "gradient:red-blue", ...) and encodes it.
func pattern(t testing.TB, spec string, w, h int, format string, setup ...func(*imagick.MagickWand) error) []byte {
	t.Helper()
	mw := imagick.NewMagickWand()
	defer mw.Destroy()
	if err := mw.SetSize(uint(w), uint(h)); err != nil {
		t.Fatal(err)
	}
	if err := mw.ReadImage(spec); err != nil {
		t.Fatalf("render %s: %v", spec, err)
	}
	for _, f := range setup {
		if err := f(mw); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.SetImageFormat(format); err != nil {
		t.Fatal(err)
	}
	blob, err := mw.GetImagesBlob()
	if err != nil {
		t.Fatalf("encode %s as %s: %v", spec, format, err)
	}
	return blob
}

// withAPP1 inserts an APP1 segment right after a JPEG's SOI.
func withAPP1(jpeg, payload []byte) []byte {
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	return bytes.Join([][]byte{jpeg[:2], seg, payload, jpeg[2:]}, nil)
}

// gpsExif is an Exif payload whose IFD0 holds Orientation and a GPS IFD with
// a latitude reference, enough for ImageMagick to report exif:GPS* properties.
func gpsExif(orientation uint16) []byte {
	b := []byte("Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08")
	b = append(b, 0, 2, // two entries
		0x01, 0x12, 0, 3, 0, 0, 0, 1, byte(orientation>>8), byte(orientation), 0, 0, // Orientation
		0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38, // GPS IFD at offset 38
		0, 0, 0, 0, // no next IFD
		0, 1, // GPS IFD: one entry
		0x00, 0x01, 0, 2, 0, 0, 0, 2, 'N', 0, 0, 0, // GPSLatitudeRef "N"
		0, 0, 0, 0)
	return b
}

// generatedCorpus stands in for the shared corpus, category by category.
func generatedCorpus(t testing.TB) []sample {
	t.Helper()
	photo := pattern(t, "plasma:fractal", 1200, 800, "JPEG", func(mw *imagick.MagickWand) error { return mw.SetImageCompressionQuality(97) })
	sixteen := pattern(t, "gradient:red-blue", 64, 300, "PNG", func(mw *imagick.MagickWand) error { return mw.SetImageDepth(16) })
	cmyk := pattern(t, "gradient:red-blue", 100, 100, "JPEG", func(mw *imagick.MagickWand) error { return mw.TransformImageColorspace(imagick.COLORSPACE_CMYK) })
	return []sample{
		{"generated_photo_gps.jpg", "photo-jpeg", withAPP1(photo, gpsExif(6))},
		{"generated_plasma.png", "photo-png", pattern(t, "plasma:fractal", 300, 200, "PNG")},
		{"generated_16bit.png", "png-16bit", sixteen},
		{"generated_alpha.png", "png-alpha", pattern(t, "gradient:none-red", 64, 64, "PNG")},
		{"generated_animated.gif", "gif-animated", animatedGIF(t, 5)},
		{"generated.webp", "webp", pattern(t, "plasma:fractal", 200, 150, "WEBP")},
		{"generated_cmyk.jpg", "jpeg-cmyk", cmyk},
		{"generated_truncated.jpg", "malformed", photo[:len(photo)/2]},
		{"generated_bomb.png", "bomb", pngHeaderOnly(65535, 65535)},
	}
}

// animatedGIF is an n-frame animation with distinct delays, looping forever.
func animatedGIF(t testing.TB, n int) []byte {
	t.Helper()
	pal := color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	g := gif.GIF{LoopCount: 0}
	for i := range n {
		img := image.NewPaletted(image.Rect(0, 0, 40, 30), pal)
		for p := range img.Pix {
			img.Pix[p] = uint8((p/40 + i) % 4)
		}
		g.Image = append(g.Image, img)
		g.Delay = append(g.Delay, 5+i)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, &g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngHeaderOnly is a PNG that declares a size and holds no pixels: a
// decompression bomb's header.
func pngHeaderOnly(w, h uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		b = append(b, typ...)
		b = append(b, data...)
		return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA
	return bytes.Join([][]byte{[]byte("\x89PNG\r\n\x1a\n"), chunk("IHDR", ihdr), chunk("IEND", nil)}, nil)
}
