package local

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
)

// Renditions are the settings `make demo` and the end-to-end tests run with:
// the defaults with three outputs per upload (the original, a WebP and an
// AVIF 640 px wide) and mirrored deletes. The AVIF output is left out, with
// the reason, where this ImageMagick cannot write AVIF.
func Renditions(ctx context.Context, b Binaries) (s config.Settings, avifMissing error) {
	s = config.Default()
	s.MirrorDeletes = true
	s.Outputs = []config.Output{
		{Format: config.Original},
		{Format: "webp", MaxWidth: 640, Suffix: "-640"},
	}
	if avifMissing = b.WritesAVIF(ctx); avifMissing == nil {
		s.Outputs = append(s.Outputs, config.Output{Format: "avif", MaxWidth: 640, Suffix: "-640"})
	}
	return s, avifMissing
}

// WritesAVIF reports why this ImageMagick build cannot write AVIF (no AV1
// encoder in libheif, or a policy that denies it), or nil when it can.
func (b Binaries) WritesAVIF(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, b.Magick(), "-size", "16x16", "xc:gray", "-define", "heic:speed=9", "avif:-")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stdout.Len() == 0 {
		return fmt.Errorf("%s cannot write AVIF: %v %s", b.Magick(), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
