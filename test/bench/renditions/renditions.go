// Package renditions measures the outputs in a format other than the
// upload's: ours' WebP and AVIF renditions 640 px wide against cwebp and
// avifenc encoding the same 640 px image, each reference at the smallest size
// that reaches the SSIM ours reached (equal quality score), and the bytes per
// pixel of each format, JPEG included.
package renditions

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/tools"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
)

// Width of the renditions: a common slot in a page.
const Width = 640

// The references, as results and the report name them.
const (
	CWebP   = "cwebp"
	AVIFEnc = "avifenc"
)

// Sample is one format of one image.
type Sample struct {
	Image  string
	Format outcome.Format
	Pixels int // of the rendition
	// Ours is what the compress CLI wrote for the output in Format.
	OursBytes int64
	OursSSIM  float64
	// The reference (none for JPEG) at the smallest size whose SSIM against
	// the same 640 px image reaches ours'; RefSetting is its quality knob.
	Reference  string
	RefBytes   int64
	RefSSIM    float64
	RefSetting string
	Err        string
}

// Options say what to run. Settings give the format settings (quality,
// method) to ours and, where they map, to the references.
type Options struct {
	Compress, Magick string
	Dir              string // scratch space
	Settings         config.Settings
	// AVIFSpeed is the AV1 encoder speed ours uses; avifenc gets the same.
	AVIFSpeed int
	// AVIFMissing is why ours cannot write AVIF here; AVIF is then skipped.
	AVIFMissing error
}

// Photos are the images the renditions are measured on: still photos wider
// than Width.
func Photos(images []corpus.Image) []corpus.Image {
	var photos []corpus.Image
	for _, im := range images {
		photo := slices.Contains([]string{"photo-jpeg", "photo-png", "kodak", ""}, im.Category)
		if photo && (im.Format == outcome.JPEG || im.Format == outcome.PNG) && im.Frames <= 1 && im.Width > Width && im.Height > Width/2 {
			photos = append(photos, im)
		}
	}
	return photos
}

// Run measures every photo. An image that fails gets samples with Err.
func Run(ctx context.Context, o Options, photos []corpus.Image) ([]Sample, error) {
	s := o.Settings
	s.Outputs = []config.Output{
		{Format: "jpeg", MaxWidth: Width, Suffix: "-jpeg"},
		{Format: "webp", MaxWidth: Width, Suffix: "-webp"},
	}
	if o.AVIFMissing == nil {
		s.Outputs = append(s.Outputs, config.Output{Format: "avif", MaxWidth: Width, Suffix: "-avif"})
	}
	settingsPath := filepath.Join(o.Dir, "renditions.json")
	doc, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(settingsPath, doc, 0o644); err != nil {
		return nil, err
	}
	scorer := &tools.Scorer{Magick: o.Magick, Dir: filepath.Join(o.Dir, "ssim")}
	if err := os.MkdirAll(scorer.Dir, 0o755); err != nil {
		return nil, err
	}
	var samples []Sample
	for _, im := range photos {
		samples = append(samples, o.image(ctx, scorer, settingsPath, im)...)
		if err := ctx.Err(); err != nil {
			return samples, err
		}
	}
	return samples, nil
}

// image makes ours' renditions of im and the references' at equal score.
func (o Options) image(ctx context.Context, scorer *tools.Scorer, settingsPath string, im corpus.Image) []Sample {
	dir := filepath.Join(o.Dir, strings.TrimSuffix(im.Name, filepath.Ext(im.Name)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return []Sample{{Image: im.Name, Err: err.Error()}}
	}
	// The image every rendition is scored against: oriented, 640 px wide,
	// as ours' resize makes it; the references encode it.
	ref := filepath.Join(dir, "reference.png")
	if out, err := exec.CommandContext(ctx, o.Magick, im.Path+"[0]", "-auto-orient", "-colorspace", "sRGB", "-filter", "Lanczos",
		"-resize", strconv.Itoa(Width)+"x", "-depth", "8", ref).CombinedOutput(); err != nil {
		return []Sample{{Image: im.Name, Err: fmt.Sprintf("reference: %v: %s", err, out)}}
	}
	lines, err := compress(ctx, o.Compress, settingsPath, filepath.Join(dir, "ours"), im.Path)
	if err != nil {
		return []Sample{{Image: im.Name, Err: err.Error()}}
	}
	var samples []Sample
	for _, l := range lines {
		smp := Sample{Image: im.Name, Format: l.FormatOut, Pixels: l.Width * l.Height, OursBytes: int64(l.BytesOut)}
		if !l.Decision.Stored() {
			smp.Err = fmt.Sprintf("ours: %s (%s)", l.Decision, l.Reason)
			samples = append(samples, smp)
			continue
		}
		if smp.OursSSIM, err = scorer.SSIM(ctx, ref, l.Output, false); err != nil {
			smp.Err = err.Error()
		} else if enc := o.reference(l.FormatOut, ref, dir); enc != nil {
			smp.Reference = enc.name
			smp.RefBytes, smp.RefSSIM, smp.RefSetting, err = equalScore(ctx, scorer, ref, smp.OursSSIM, *enc)
			if err != nil {
				smp.Err = err.Error()
			}
		}
		samples = append(samples, smp)
	}
	return samples
}

// compress runs the compress CLI and returns its lines.
func compress(ctx context.Context, bin, settings, out, in string) ([]outcome.File, error) {
	cmd := exec.CommandContext(ctx, bin, "-config", settings, "-out", out, in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("compress %s: %v: %s", filepath.Base(in), err, strings.TrimSpace(stderr.String()))
	}
	var lines []outcome.File
	for sc := bufio.NewScanner(bytes.NewReader(stdout)); sc.Scan(); {
		var l outcome.File
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("compress printed %q: %w", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// encoder is a reference with one quality knob, from worst (lo) to best (hi).
type encoder struct {
	name    string
	lo, hi  int
	setting func(k int) string
	run     func(ctx context.Context, k int) (string, error) // writes the output, returns its path
}

func (o Options) reference(f outcome.Format, ref, dir string) *encoder {
	switch f {
	case outcome.WebP:
		return &encoder{name: CWebP, lo: 0, hi: 100, setting: func(q int) string { return "-q " + strconv.Itoa(q) },
			run: func(ctx context.Context, q int) (string, error) {
				out := filepath.Join(dir, fmt.Sprintf("cwebp-q%d.webp", q))
				return out, run(ctx, "cwebp", "-quiet", "-q", strconv.Itoa(q), "-m", strconv.Itoa(o.Settings.WebP.Method), ref, "-o", out)
			}}
	case outcome.AVIF:
		// avifenc 0.11 sets quality through the quantizer: cq-level 63 is
		// the worst, 0 the best; k counts up from the worst.
		return &encoder{name: AVIFEnc, lo: 0, hi: 63, setting: func(k int) string { return "cq-level " + strconv.Itoa(63-k) },
			run: func(ctx context.Context, k int) (string, error) {
				out := filepath.Join(dir, fmt.Sprintf("avifenc-cq%d.avif", 63-k))
				return out, run(ctx, "avifenc", "-s", strconv.Itoa(o.AVIFSpeed), "-y", "420", "--min", "0", "--max", "63",
					"-a", "end-usage=q", "-a", "cq-level="+strconv.Itoa(63-k), ref, out)
			}}
	}
	return nil
}

// equalScore finds, by bisection over the knob, the reference's smallest
// output whose SSIM reaches target (the knob's best setting when none does).
func equalScore(ctx context.Context, scorer *tools.Scorer, ref string, target float64, enc encoder) (bytes int64, ssim float64, setting string, err error) {
	type try struct {
		bytes int64
		ssim  float64
	}
	tried := map[int]try{}
	measure := func(k int) (try, error) {
		if t, ok := tried[k]; ok {
			return t, nil
		}
		out, err := enc.run(ctx, k)
		if err != nil {
			return try{}, err
		}
		st, err := os.Stat(out)
		if err != nil {
			return try{}, err
		}
		v, err := scorer.SSIM(ctx, ref, out, false)
		tried[k] = try{st.Size(), v}
		return tried[k], err
	}
	lo, hi := enc.lo, enc.hi
	if _, err := measure(hi); err != nil {
		return 0, 0, "", fmt.Errorf("%s %s: %w", enc.name, enc.setting(hi), err)
	}
	for lo < hi {
		mid := (lo + hi) / 2
		t, err := measure(mid)
		if err != nil {
			return 0, 0, "", fmt.Errorf("%s %s: %w", enc.name, enc.setting(mid), err)
		}
		if t.ssim >= target {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	best := tried[hi]
	return best.bytes, best.ssim, enc.setting(hi), nil
}

func run(ctx context.Context, args ...string) error {
	if out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}
