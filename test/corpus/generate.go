package corpus

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

// generated are images made from ImageMagick's built-in patterns, one or more
// per format the pipeline handles; seeded so every run makes the same files.
var generated = []struct {
	name string
	args []string
}{
	{"plasma_photo.jpg", []string{"-seed", "1", "-size", "2000x1500", "plasma:fractal", "-blur", "0x1", "-quality", "95"}},
	{"small.jpg", []string{"-seed", "5", "-size", "120x80", "plasma:fractal", "-quality", "95"}},
	{"plasma.png", []string{"-seed", "2", "-size", "800x600", "plasma:fractal"}},
	{"gradient.png", []string{"-size", "1024x768", "gradient:navy-gold"}},
	{"logo.png", []string{"logo:"}},
	{"plasma_lossy.webp", []string{"-seed", "3", "-size", "1000x700", "plasma:fractal", "-quality", "95"}},
	{"animated.gif", []string{"-seed", "4", "-delay", "10", "-size", "200x150", "plasma:fractal", "plasma:fractal", "plasma:fractal"}},
}

// Generate writes a stand-in corpus into dir: the generated images, a
// truncated JPEG and a PNG decompression bomb, and returns it like Load.
func Generate(ctx context.Context, dir, magick string) ([]Image, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("generate corpus: %w", err)
	}
	for _, g := range generated {
		if err := Render(ctx, magick, filepath.Join(dir, g.name), g.args...); err != nil {
			return nil, fmt.Errorf("generate corpus: %w", err)
		}
	}
	photo, err := os.ReadFile(filepath.Join(dir, generated[0].name))
	if err != nil {
		return nil, fmt.Errorf("generate corpus: %w", err)
	}
	extra := map[string][]byte{
		"truncated.jpg":  photo[:len(photo)/3],
		"bomb_65535.png": pngBomb(65535, 65535),
	}
	for name, data := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return nil, fmt.Errorf("generate corpus: %w", err)
		}
	}
	manifest := "file\tcategory\ntruncated.jpg\t" + Malformed + "\nbomb_65535.png\t" + Bomb + "\n"
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST.tsv"), []byte(manifest), 0o644); err != nil {
		return nil, fmt.Errorf("generate corpus: %w", err)
	}
	return Load(ctx, dir, magick)
}

// Render writes path with `magick args... path`, e.g. Render(ctx, magick,
// "logo.png", "logo:").
func Render(ctx context.Context, magick, path string, args ...string) error {
	args = append(slices.Clone(args), path)
	if out, err := exec.CommandContext(ctx, magick, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("magick %q: %w: %s", args, err, out)
	}
	return nil
}

// pngBomb is a valid PNG header declaring w×h RGBA pixels (17 GB at 65535²)
// followed by a few compressed rows: a decoder that allocates from the header
// before reading the data has already lost.
func pngBomb(w, h uint32) []byte {
	var png bytes.Buffer
	png.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&png, binary.BigEndian, uint32(len(data)))
		body := append([]byte(typ), data...)
		png.Write(body)
		_ = binary.Write(&png, binary.BigEndian, crc32.ChecksumIEEE(body))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	chunk("IHDR", append(ihdr, 8, 6, 0, 0, 0)) // 8-bit RGBA, deflate, no interlace
	var idat bytes.Buffer
	zw := zlib.NewWriter(&idat)
	_, _ = zw.Write(make([]byte, 16*(1+4*int(w)))) // 16 rows of zeros, filter byte included
	_ = zw.Close()
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return png.Bytes()
}
