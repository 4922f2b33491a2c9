package chaos_test

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// image is one file of the burst's mix.
type image struct {
	name, ext string
	data      []byte
	valid     bool // false: the function must reject it (and record that)
}

// images renders the burst's mix with ImageMagick's built-in patterns: every
// format the function takes, small to 2 MP, animation, 16-bit, alpha, CMYK,
// and files it must refuse (truncated, not an image, a pixel bomb).
func images(t *testing.T, magick string) []image {
	t.Helper()
	dir := t.TempDir()
	render := func(name, ext string, args ...string) image {
		out := filepath.Join(dir, name+ext)
		cmd := exec.Command(magick, append(args, out)...)
		if output, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("magick %s: %v\n%s", strings.Join(args, " "), err, output)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return image{name: name, ext: ext, data: data, valid: true}
	}
	photo := render("photo", ".jpg", "-size", "640x480", "plasma:fractal", "-quality", "95")
	mix := []image{
		photo,
		render("thumb", ".jpg", "-size", "64x48", "plasma:fractal"),
		render("large", ".jpg", "-size", "1600x1200", "plasma:fractal", "-quality", "92"),
		render("cmyk", ".jpg", "-size", "300x200", "gradient:red-blue", "-colorspace", "CMYK"),
		render("progressive", ".jpeg", "-size", "500x400", "plasma:fractal", "-interlace", "JPEG"),
		render("alpha", ".png", "-size", "200x150", "gradient:none-red"),
		render("palette", ".png", "-size", "300x200", "pattern:checkerboard", "-type", "Palette"),
		render("sixteen", ".png", "-size", "128x128", "gradient:red-blue", "-depth", "16"),
		render("animated", ".gif", "-size", "80x60", "-delay", "10", "plasma:", "plasma:", "plasma:", "-loop", "0"),
		render("lossy", ".webp", "-size", "400x300", "plasma:fractal"),
		render("lossless", ".webp", "-size", "200x150", "gradient:blue-yellow", "-define", "webp:lossless=true"),
		render("scan", ".tif", "-size", "200x150", "plasma:fractal", "-compress", "lzw"),
	}
	mix[len(mix)-1].ext = ".tiff"
	mix = append(mix,
		image{name: "truncated", ext: ".jpg", data: photo.data[:len(photo.data)/2]},
		image{name: "text", ext: ".png", data: []byte("this is not an image\n")},
		image{name: "bomb", ext: ".png", data: pngBomb(30000, 30000)},
	)
	return mix
}

// action is what the burst does with one key.
type action struct {
	key      string
	versions []image // uploaded one after another
	// gap is the time between two versions' uploads; with settle, the
	// next version waits until the previous one has its outcome.
	gap    time.Duration
	settle bool
	// deleteAfter deletes the key this long after its last upload (0: never).
	deleteAfter time.Duration
	redeliver   bool // its event is posted to the relay a second time
	at          time.Duration
}

// segments make keys people upload: spaces, '+', unicode, percent signs,
// brackets, deep prefixes.
var segments = []string{
	"plain", "with space", "plus+sign", "ünïcödé/写真", "deep/a/b/c/d/e/f/g/h/i/j",
	"(parens) [1]", "percent%20literal", "mixed+ and spaces", "émoji 📷",
}

// plan spreads n keys over duration: most uploaded once, a tenth
// overwritten, a tenth deleted right after the upload, a tenth delivered
// twice.
func plan(rng *rand.Rand, mix []image, n int, duration time.Duration) []action {
	pick := func() image {
		if rng.IntN(100) < 12 { // files the function must refuse
			return mix[len(mix)-3+rng.IntN(3)]
		}
		return mix[rng.IntN(len(mix)-3)]
	}
	actions := make([]action, n)
	for i := range actions {
		img := pick()
		ext := img.ext
		if rng.IntN(8) == 0 {
			ext = strings.ToUpper(ext) // the default suffixes cover both cases
		}
		a := action{
			key:      fmt.Sprintf("uploads/chaos/%s/%04d %s%s", segments[rng.IntN(len(segments))], i, img.name, ext),
			versions: []image{img},
			at:       time.Duration(float64(duration) * float64(i) / float64(n)),
		}
		switch rng.IntN(10) {
		case 0:
			// An overwrite, possibly by a file to refuse: half while the
			// first version may still be processed, half after its output
			// is there.
			next := pick()
			for next.name == img.name {
				next = pick()
			}
			a.versions = append(a.versions, next)
			a.gap = time.Duration(rng.IntN(400)) * time.Millisecond
			a.settle = rng.IntN(2) == 0
		case 1:
			a.deleteAfter = time.Duration(1+rng.IntN(300)) * time.Millisecond
		case 2:
			a.redeliver = true
		}
		actions[i] = a
	}
	return actions
}

// pngBomb is a PNG declaring w x h pixels and holding none.
func pngBomb(w, h uint32) []byte {
	ihdr := []byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w), byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h), 8, 6, 0, 0, 0}
	return append(append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...), pngChunk("IEND", nil)...)
}

func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}
