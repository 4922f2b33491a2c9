package lambda

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/image/tiff"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// generation is bumped whenever Largest would make other files, so cached
// ones are not reused.
const generation = 2

// Largest returns, for each format the function writes (JPEG, PNG, WebP,
// GIF, TIFF), the largest image each of the limits allows: the most pixels
// (at a photo's 3:2), the longest side (with as many pixels as still pass),
// the most frames (for the formats that hold several), and the most bytes
// (noise, which does not compress). The files are generated once into the
// cache (minutes) and reused; magick converts to WebP and builds the
// multi-page TIFF.
func Largest(ctx context.Context, limits config.Limits, magick string) ([]Image, error) {
	cache, err := local.CacheDir()
	if err != nil {
		return nil, err
	}
	spec, err := json.Marshal(struct {
		Generation int
		Limits     config.Limits
	}{generation, limits})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(spec)
	dir := filepath.Join(cache, "lambda-images", hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	g := &generator{ctx: ctx, limits: limits, magick: magick, dir: dir}
	return g.all()
}

type generator struct {
	ctx    context.Context
	limits config.Limits
	magick string
	dir    string
}

// sizes of the pixel and dimension cases: W x H within both limits.
func (g *generator) pixels() (int, int) {
	h := int(math.Sqrt(float64(g.limits.MaxPixels) * 2 / 3))
	w := int(g.limits.MaxPixels) / h
	return min(w, g.limits.MaxDimension), h
}

func (g *generator) dimension(maxSide int) (int, int) {
	w := min(g.limits.MaxDimension, maxSide)
	return w, min(int(g.limits.MaxPixels)/w, g.limits.MaxDimension)
}

// webpMaxSide is the WebP format's own limit.
const webpMaxSide = 16383

func (g *generator) all() ([]Image, error) {
	pw, ph := g.pixels()
	dw, dh := g.dimension(math.MaxInt)
	ww, wh := g.dimension(webpMaxSide)
	// frames: the largest frames of which the frame limit still fits in
	// the memory a 256 MB function gives ImageMagick (96 MiB, at 8 bytes a
	// pixel with alpha or a palette index): 100 of 408x306
	const fw, fh = 408, 306
	frames := g.limits.MaxFrames
	cases := []struct {
		name   string
		pixels int64 // of all frames; 0 for the byte cases, measured below
		make   func(path string) error
	}{
		{fmt.Sprintf("jpeg-pixels-%dx%d.jpg", pw, ph), int64(pw * ph), g.encode(pw, ph, photo, encodeJPEG(90))},
		{fmt.Sprintf("jpeg-dimension-%dx%d.jpg", dw, dh), int64(dw * dh), g.encode(dw, dh, photo, encodeJPEG(90))},
		{"jpeg-bytes.jpg", 0, g.bytes(noise, encodeJPEG(100))},
		{fmt.Sprintf("png-pixels-%dx%d.png", pw, ph), int64(pw * ph), g.encode(pw, ph, smooth, encodePNG)},
		{fmt.Sprintf("png-dimension-%dx%d.png", dw, dh), int64(dw * dh), g.encode(dw, dh, smooth, encodePNG)},
		{"png-bytes.png", 0, g.bytes(noise, encodePNG)},
		{fmt.Sprintf("gif-pixels-%dx%d.gif", pw, ph), int64(pw * ph), g.encode(pw, ph, smooth, encodeGIF)},
		{fmt.Sprintf("gif-dimension-%dx%d.gif", dw, dh), int64(dw * dh), g.encode(dw, dh, smooth, encodeGIF)},
		{fmt.Sprintf("gif-frames-%dx%dx%d.gif", fw, fh, frames), int64(fw * fh * frames), g.animation(fw, fh, frames)},
		{"gif-bytes.gif", 0, g.bytes(noise, encodeGIF)},
		{fmt.Sprintf("tiff-pixels-%dx%d.tif", pw, ph), int64(pw * ph), g.encode(pw, ph, smooth, encodeTIFF)},
		{fmt.Sprintf("tiff-dimension-%dx%d.tif", dw, dh), int64(dw * dh), g.encode(dw, dh, smooth, encodeTIFF)},
		{fmt.Sprintf("tiff-frames-%dx%dx%d.tif", fw, fh, frames), int64(fw * fh * frames), g.converted(fmt.Sprintf("tiff-page-%dx%d.tif", fw, fh), g.encode(fw, fh, smooth, encodeTIFF), "-duplicate", fmt.Sprint(frames-1), "-compress", "zip")},
		{"tiff-bytes.tif", 0, g.bytes(noise, encodeTIFF)},
		{fmt.Sprintf("webp-pixels-%dx%d.webp", pw, ph), int64(pw * ph), g.converted(fmt.Sprintf("webp-source-%dx%d.png", pw, ph), g.encode(pw, ph, photo, encodePNG), "-quality", "90")},
		{fmt.Sprintf("webp-dimension-%dx%d.webp", ww, wh), int64(ww * wh), g.converted(fmt.Sprintf("webp-source-%dx%d.png", ww, wh), g.encode(ww, wh, photo, encodePNG), "-quality", "90")},
		{fmt.Sprintf("webp-frames-%dx%dx%d.webp", fw, fh, frames), int64(fw * fh * frames), g.converted(fmt.Sprintf("gif-frames-%dx%dx%d.gif", fw, fh, frames), nil, "-quality", "90")},
	}
	var images []Image
	for _, c := range cases {
		data, err := g.cached(c.name, c.make)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		pixels := c.pixels
		if pixels == 0 {
			cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			pixels = int64(cfg.Width) * int64(cfg.Height)
		}
		images = append(images, Image{Name: c.name, Data: data, Pixels: pixels})
	}
	return images, nil
}

// cached returns the file name in the cache, making it first if needed.
func (g *generator) cached(name string, make func(path string) error) ([]byte, error) {
	path := filepath.Join(g.dir, name)
	if data, err := os.ReadFile(path); err == nil {
		return data, nil
	}
	tmp := path + ".tmp"
	if err := make(tmp); err != nil {
		_ = os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}

type painter func(img *image.RGBA, seed uint64)
type encoder func(path string, img *image.RGBA) error

// encode paints a w x h image and writes it.
func (g *generator) encode(w, h int, paint painter, enc encoder) func(string) error {
	return func(path string) error {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		paint(img, uint64(w*h))
		return enc(path, img)
	}
}

// bytes writes the largest noise image whose file stays within the byte
// limit, or, for a format that holds noise in fewer bytes, the largest the
// pixel limit allows: encode, measure, scale, until it lands just under.
func (g *generator) bytes(paint painter, enc encoder) func(string) error {
	return func(path string) error {
		limit := float64(g.limits.MaxInputBytes)
		pw, ph := g.pixels()
		scale := 0.3 // of the pixel case's sides
		for range 8 {
			w, h := int(float64(pw)*scale), int(float64(ph)*scale)
			img := image.NewRGBA(image.Rect(0, 0, w, h))
			paint(img, uint64(w))
			if err := enc(path, img); err != nil {
				return err
			}
			st, err := os.Stat(path)
			if err != nil {
				return err
			}
			n := float64(st.Size())
			if n <= limit && (n > 0.97*limit || scale == 1) {
				return nil
			}
			scale = math.Min(1, scale*math.Sqrt(0.985*limit/n))
		}
		return fmt.Errorf("no noise image lands just under %d bytes", g.limits.MaxInputBytes)
	}
}

// animation writes a GIF of n frames, each a different shift of one picture.
func (g *generator) animation(w, h, n int) func(string) error {
	return func(path string) error {
		base := image.NewRGBA(image.Rect(0, 0, w, h))
		photo(base, 1)
		anim := &gif.GIF{LoopCount: 0}
		for i := range n {
			shifted := image.NewRGBA(base.Rect)
			for y := range h {
				row := base.Pix[y*base.Stride : (y+1)*base.Stride]
				shift := 4 * (7 * i % w)
				copy(shifted.Pix[y*base.Stride:], row[shift:])
				copy(shifted.Pix[y*base.Stride+len(row)-shift:], row[:shift])
			}
			anim.Image = append(anim.Image, paletted(shifted))
			anim.Delay = append(anim.Delay, 4)
		}
		return writeFile(path, func(b *bytes.Buffer) error { return gif.EncodeAll(b, anim) })
	}
}

// converted has magick turn the cached file from (made by make when
// missing, or cached already when make is nil) into path.
func (g *generator) converted(from string, make func(string) error, args ...string) func(string) error {
	return func(path string) error {
		if make == nil {
			make = func(string) error { return fmt.Errorf("%s is made by another case, which must come first", from) }
		}
		if _, err := g.cached(from, make); err != nil {
			return err
		}
		// The format follows path's extension; the cache's .tmp hides it.
		ext := filepath.Ext(path[:len(path)-len(".tmp")])
		out := path + ext
		cmd := exec.CommandContext(g.ctx, g.magick, append(append([]string{filepath.Join(g.dir, from)}, args...), out)...)
		if output, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("magick %s: %v\n%s", from, err, output)
		}
		return os.Rename(out, path)
	}
}

// photo paints smooth colour fields with a little grain, which compress
// like a photograph: well in a lossy format, barely in a lossless one (a
// 50 MP photo as PNG is beyond the byte limit).
func photo(img *image.RGBA, seed uint64) { paintFields(img, seed, 9) }

// smooth paints the fields without grain, like a rendered graphic, so the
// largest image the pixel limit allows fits the byte limit in a lossless
// format too.
func smooth(img *image.RGBA, seed uint64) { paintFields(img, seed, 1) }

// paintFields paints sums of sines per channel plus grain of the given
// amplitude.
func paintFields(img *image.RGBA, seed uint64, grain int) {
	r := rand.New(rand.NewPCG(seed, 1))
	w, h := img.Rect.Dx(), img.Rect.Dy()
	var f [3][4]float64
	for c := range f {
		for k := range f[c] {
			f[c][k] = 2 + r.Float64()*10
		}
	}
	for y := range h {
		fy := float64(y) / float64(h)
		for x := range w {
			fx := float64(x) / float64(w)
			i := img.PixOffset(x, y)
			for c := range 3 {
				v := 128 + 60*math.Sin(f[c][0]*fx+f[c][1]*fy) + 50*math.Cos(f[c][2]*fx*fy*3+f[c][3]*fy)
				img.Pix[i+c] = uint8(max(0, min(255, v+float64(r.IntN(grain)-grain/2))))
			}
			img.Pix[i+3] = 255
		}
	}
}

// noise paints random pixels, which no encoder can shrink.
func noise(img *image.RGBA, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 2))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.Uint32())
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
}

func encodeJPEG(quality int) encoder {
	return func(path string, img *image.RGBA) error {
		return writeFile(path, func(b *bytes.Buffer) error { return jpeg.Encode(b, img, &jpeg.Options{Quality: quality}) })
	}
}

// encodePNG writes RGB: the encoder drops an alpha channel that is opaque.
func encodePNG(path string, img *image.RGBA) error {
	return writeFile(path, func(b *bytes.Buffer) error { return png.Encode(b, img) })
}

func encodeGIF(path string, img *image.RGBA) error {
	return writeFile(path, func(b *bytes.Buffer) error { return gif.Encode(b, paletted(img), nil) })
}

// paletted maps each pixel to the nearest of the 216 web-safe colours, a
// 6x6x6 cube, by arithmetic (a palette search per pixel takes minutes at
// 50 MP).
func paletted(img *image.RGBA) *image.Paletted {
	p := image.NewPaletted(img.Rect, palette.WebSafe)
	for i, j := 0, 0; i < len(img.Pix); i, j = i+4, j+1 {
		level := func(v uint8) uint8 { return (v + 25) / 51 }
		p.Pix[j] = 36*level(img.Pix[i]) + 6*level(img.Pix[i+1]) + level(img.Pix[i+2])
	}
	return p
}

func encodeTIFF(path string, img *image.RGBA) error {
	return writeFile(path, func(b *bytes.Buffer) error { return tiff.Encode(b, img, &tiff.Options{Compression: tiff.Deflate}) })
}

func writeFile(path string, enc func(*bytes.Buffer) error) error {
	var b bytes.Buffer
	if err := enc(&b); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
