package tools

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Scorer computes SSIM with ImageMagick's `compare -metric SSIM`. Both images
// are first reduced to what a viewer compares: the first frame, orientation
// applied, as luma (SSIM's usual channel; it also keeps a 12 MP comparison
// at seconds rather than tens of seconds).
type Scorer struct {
	Magick string
	Dir    string // scratch space for the normalised images

	mu     sync.Mutex
	inputs map[string]*normalised // by input path and orientation
}

type normalised struct {
	once sync.Once
	img  grey
	err  error
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
	key := fmt.Sprintf("%s|%t", path, orient)
	s.mu.Lock()
	if s.inputs == nil {
		s.inputs = map[string]*normalised{}
	}
	n, ok := s.inputs[key]
	if !ok {
		n = &normalised{}
		s.inputs[key] = n
	}
	s.mu.Unlock()
	n.once.Do(func() { n.img, n.err = s.normalise(ctx, path, orient) })
	return n.img, n.err
}

// normalise writes path's first frame as a grey PNG (fast zlib level, 16 bits
// kept) into s.Dir. PNG because the project's security policy allows few
// formats, and this is one.
func (s *Scorer) normalise(ctx context.Context, path string, orient bool) (grey, error) {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%t", path, orient)))
	out := filepath.Join(s.Dir, hex.EncodeToString(sum[:8])+".png")
	args := []string{path + "[0]"}
	if orient {
		args = append(args, "-auto-orient")
	}
	args = append(args, "-colorspace", "gray", "-print", "%w %h", "-define", "png:compression-level=1", out)
	cmd := exec.CommandContext(ctx, s.Magick, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	size, err := cmd.Output()
	if err != nil {
		return grey{}, fmt.Errorf("decode %s for SSIM: %w: %s", filepath.Base(path), err, firstLine(stderr.String()))
	}
	return grey{path: out, size: string(size)}, nil
}
