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
)

// S2Scorer computes SSIMULACRA2 with libjxl's ssimulacra2 tool. Both images
// are first normalised the same way: the first frame as PNG, the EXIF
// orientation applied (the tool ignores it), metadata and colour chunks
// stripped (both read as sRGB, as the pipeline's own metric does), decoded
// by Debian's ImageMagick 6, whose libjpeg-turbo decodes JPEG as browsers
// do (jpegli's decoder, which the project's build may link, scores the same
// file 1-2 points higher). Formats ImageMagick 6 cannot read (HEIC, AVIF) go
// through the project's magick.
type S2Scorer struct {
	Tool   string // the ssimulacra2 binary
	Magick string // the project's magick, for what ImageMagick 6 cannot read
	Dir    string // scratch space

	inputs onceMap[string] // normalised inputs by path and orientation
}

// Score scores output against input (see Scorer.SSIM for orientInput).
func (s *S2Scorer) Score(ctx context.Context, input, output string, orientInput bool) (float64, error) {
	in, err := s.input(ctx, input, orientInput)
	if err != nil {
		return 0, err
	}
	out, err := s.normalise(ctx, output, true)
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, s.Tool, in, out)
	cmd.Env = append(cmd.Environ(), systemLibraries...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("ssimulacra2 %s %s: %v: %s", filepath.Base(input), filepath.Base(output), err, firstLine(stderr.String()+string(res)))
	}
	return strconv.ParseFloat(strings.TrimSpace(string(res)), 64)
}

func (s *S2Scorer) input(ctx context.Context, path string, orient bool) (string, error) {
	return s.inputs.get(fmt.Sprintf("%s|%t", path, orient), func() (string, error) { return s.normalise(ctx, path, orient) })
}

func (s *S2Scorer) normalise(ctx context.Context, path string, orient bool) (string, error) {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%t", path, orient)))
	out := filepath.Join(s.Dir, "s2-"+hex.EncodeToString(sum[:8])+".png")
	args := []string{path + "[0]"}
	if orient {
		args = append(args, "-auto-orient")
	}
	args = append(args, "-strip", "-define", "png:compression-level=1", "PNG:"+out)
	var last error
	for _, bin := range []string{IM6, s.Magick} {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(cmd.Environ(), systemLibraries...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil {
			return out, nil
		}
		last = fmt.Errorf("decode %s for SSIMULACRA2 with %s: %w: %s", filepath.Base(path), filepath.Base(bin), err, firstLine(stderr.String()))
	}
	return "", last
}
