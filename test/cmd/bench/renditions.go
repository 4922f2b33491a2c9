package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/renditions"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/report"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// measureRenditions runs the renditions comparison (test/bench/renditions)
// on the corpus's photos and notes what it could not measure.
func measureRenditions(ctx context.Context, o options, magick string, r *report.Results, images []corpus.Image) {
	start := time.Now()
	notes := []string{"References: " + firstLineOf(ctx, "cwebp", "-version") + " (cwebp), " + firstLineOf(ctx, "avifenc", "--version") + "."}
	for _, bin := range []string{"cwebp", "avifenc"} {
		if _, err := exec.LookPath(bin); err != nil {
			notes = append(notes, bin+" not found (run make packages): no comparison with it.")
		}
	}
	avifMissing := local.Binaries{MagickPrefix: filepath.Dir(filepath.Dir(magick))}.WritesAVIF(ctx)
	if avifMissing != nil {
		notes = append(notes, fmt.Sprintf("No AVIF rendition: %v.", avifMissing))
	}
	photos := renditions.Photos(images)
	if len(photos) == 0 {
		notes = append(notes, fmt.Sprintf("No photo wider than %d px in the corpus.", renditions.Width))
	}
	var err error
	r.Renditions, err = renditions.Run(ctx, renditions.Options{
		Compress: o.compress, Magick: magick, Dir: filepath.Join(o.work, "renditions"),
		Settings: r.Settings, AVIFSpeed: pipeline.AVIFSpeed, AVIFMissing: avifMissing,
	}, photos)
	if err != nil {
		notes = append(notes, "Stopped: "+err.Error())
	}
	r.RenditionsNote = strings.Join(notes, " ")
	logf("renditions of %d photos: %s", len(photos), time.Since(start).Round(time.Second))
}
