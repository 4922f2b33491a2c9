package tools

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Scorer computes SSIM with ImageMagick's `compare -metric SSIM`. Both images
// are first reduced to what a viewer compares: the first frame, orientation
// applied, as luma (SSIM's usual channel; it also keeps a 12 MP comparison
// at seconds rather than tens of seconds).
type Scorer struct {
	Magick string
	Dir    string // scratch space for the normalised images

	inputs onceMap[grey] // by input path and orientation
}

// onceMap computes each key's value once, however many callers ask at once.
type onceMap[T any] struct {
	mu sync.Mutex
	m  map[string]*onceValue[T]
}

type onceValue[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (o *onceMap[T]) get(key string, compute func() (T, error)) (T, error) {
	o.mu.Lock()
	if o.m == nil {
		o.m = map[string]*onceValue[T]{}
	}
	e, ok := o.m[key]
	if !ok {
		e = &onceValue[T]{}
		o.m[key] = e
	}
	o.mu.Unlock()
	e.once.Do(func() { e.v, e.err = compute() })
	return e.v, e.err
}

// grey is a normalised image and its displayed size.
type grey struct {
	path string
	size string // "W H"
}

// SSIM scores output against input: 1 is identical. orientInput applies the
// input's EXIF orientation first (see Tool.OrientInput); the output's own
// orientation tag, if it kept one, is always applied.
func (s *Scorer) SSIM(ctx context.Context, input, output string, orientInput bool) (float64, error) {
	if samePixels(input, output) {
		return 1, nil
	}
	in, err := s.input(ctx, input, orientInput)
	if err != nil {
		return 0, err
	}
	out, err := s.normalise(ctx, output, true)
	if err != nil {
		return 0, err
	}
	// compare scores the overlap of differently sized images instead of
	// refusing: a lost rotation would pass as a poor score.
	if in.size != out.size {
		return 0, fmt.Errorf("compare %s with %s: displayed sizes differ (%s vs %s): orientation or size not kept", filepath.Base(input), filepath.Base(output), in.size, out.size)
	}
	// compare exits 1 when the images differ at all; only 2 is an error, and
	// then stderr holds the reason instead of a number.
	res, err := exec.CommandContext(ctx, s.Magick, "compare", "-metric", "SSIM", in.path, out.path, "null:").CombinedOutput()
	text := strings.TrimSpace(string(res))
	if v, perr := strconv.ParseFloat(strings.Fields(text + " x")[0], 64); perr == nil {
		return v, nil
	}
	return 0, fmt.Errorf("compare %s with %s: %v: %s", filepath.Base(input), filepath.Base(output), err, firstLine(text))
}

func (s *Scorer) input(ctx context.Context, path string, orient bool) (grey, error) {
	return s.inputs.get(fmt.Sprintf("%s|%t", path, orient), func() (grey, error) { return s.normalise(ctx, path, orient) })
}

// normalise writes path's first frame as a grey PNG (stored, not deflated:
// written and read fast; 16 bits kept) into s.Dir. PNG because the project's
// security policy allows few formats, and this is one.
func (s *Scorer) normalise(ctx context.Context, path string, orient bool) (grey, error) {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%t", path, orient)))
	out := filepath.Join(s.Dir, hex.EncodeToString(sum[:8])+".png")
	args := []string{path + "[0]"}
	if orient {
		args = append(args, "-auto-orient")
	}
	args = append(args, "-colorspace", "gray", "-print", "%w %h", "-define", "png:compression-level=0", out)
	cmd := exec.CommandContext(ctx, s.Magick, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	size, err := cmd.Output()
	if err != nil {
		return grey{}, fmt.Errorf("decode %s for SSIM: %w: %s", filepath.Base(path), err, firstLine(stderr.String()))
	}
	return grey{path: out, size: string(size)}, nil
}

// samePixels says whether two PNG or GIF files decode (first frame) to the
// same pixels. Lossless outputs, most PNGs, are settled in-process this way;
// a comparison with ImageMagick costs a few processes each.
func samePixels(a, b string) bool {
	imgA, okA := decodeLossless(a)
	imgB, okB := decodeLossless(b)
	if !okA || !okB || imgA.Bounds().Size() != imgB.Bounds().Size() {
		return false
	}
	ra, rb := imgA.Bounds(), imgB.Bounds()
	for y := 0; y < ra.Dy(); y++ {
		for x := 0; x < ra.Dx(); x++ {
			if color.RGBA64Model.Convert(imgA.At(ra.Min.X+x, ra.Min.Y+y)) != color.RGBA64Model.Convert(imgB.At(rb.Min.X+x, rb.Min.Y+y)) {
				return false
			}
		}
	}
	return true
}

func decodeLossless(path string) (image.Image, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	var img image.Image
	switch format, _ := outcome.Sniff(data); format {
	case outcome.PNG:
		img, err = png.Decode(bytes.NewReader(data))
	case outcome.GIF:
		img, err = gif.Decode(bytes.NewReader(data))
	default:
		return nil, false
	}
	return img, err == nil
}
