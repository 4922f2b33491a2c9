// Package tools runs the compressor and the reference tools it is measured
// against on one image each, with the same settings, and scores outputs.
package tools

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/measure"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
)

// Names of the tools, as they appear in results and the report.
const (
	Ours       = "ours"
	TurboJPEG  = "libjpeg-turbo"
	NaiveMagic = "im6-naive"
	OptiPNG    = "optipng"
	CWebP      = "cwebp"
)

// Outcome of one tool on one image.
type Outcome struct {
	measure.Sample
	Output    string // path of the output file; "" when there is none
	OutBytes  int64
	FormatOut outcome.Format
	// Decision is ours' decision; a reference has Compressed or Failed.
	Decision outcome.Decision
	Reason   string
	// PipelineMillis is the time ours reports for its own pipeline, without
	// process start and ImageMagick initialisation.
	PipelineMillis float64
}

// Tool is one way of compressing an image.
type Tool struct {
	Name    string
	Command string // for the report, with IN and OUT for the files
	// OrientInput says the output is meant to display like the input with its
	// EXIF orientation applied. References that drop EXIF without rotating
	// (cjpeg, optipng -strip, cwebp) keep the stored pixel order instead, so
	// their quality is scored against the unrotated input.
	OrientInput bool
	Missing     string // why the tool cannot run here; "" when it can
	applies     func(corpus.Image) bool
	run         func(ctx context.Context, im corpus.Image, outDir string) (Outcome, error)
}

// Applies says whether the tool is meant for im (cjpeg only reads JPEG, ...).
func (t Tool) Applies(im corpus.Image) bool { return t.Missing == "" && t.applies(im) }

// Run compresses im into outDir/<tool name>/.
func (t Tool) Run(ctx context.Context, im corpus.Image, outDir string) (Outcome, error) {
	dir := filepath.Join(outDir, t.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Outcome{}, err
	}
	o, err := t.run(ctx, im, dir)
	if err != nil {
		return o, fmt.Errorf("%s on %s: %w", t.Name, im.Name, err)
	}
	if o.Output != "" {
		st, err := os.Stat(o.Output)
		if err != nil {
			return o, fmt.Errorf("%s on %s: output: %w", t.Name, im.Name, err)
		}
		o.OutBytes = st.Size()
	}
	return o, nil
}

// Paths of the binaries under test.
type Paths struct {
	Compress string // the project's compress CLI
	Magick   string // the project's ImageMagick 7 magick
	Config   string // the settings file given to compress
}

// IM6 is Debian's ImageMagick 6 command (package imagemagick-6.q16): the naive
// reference, independent of the project's own build. Named by its full path:
// a `convert` earlier on PATH may be anything.
const IM6 = "/usr/bin/convert-im6.q16"

// systemLibraries is the environment change that runs a reference with the
// system's shared libraries, whatever LD_LIBRARY_PATH the harness runs ours
// with (a libjpeg.so.62 from jpegli, say).
var systemLibraries = []string{"LD_LIBRARY_PATH="}

// New returns ours and the references, set up from the same settings s.
// References not installed are returned with Missing set, so the report can
// say what was not compared.
func New(p Paths, s config.Settings) []Tool {
	jpegQ := strconv.Itoa(s.JPEG.Quality)
	tools := []Tool{
		{
			Name:        Ours,
			Command:     "compress -config bench-settings.json -out DIR IN",
			OrientInput: true,
			applies:     func(corpus.Image) bool { return true },
			run: func(ctx context.Context, im corpus.Image, dir string) (Outcome, error) {
				return runOurs(ctx, p, im, dir)
			},
		},
		{
			Name:    TurboJPEG,
			Command: "djpeg IN | cjpeg -quality " + jpegQ + " -optimize -progressive -outfile OUT",
			applies: isFormat(outcome.JPEG),
			run: func(ctx context.Context, im corpus.Image, dir string) (Outcome, error) {
				out := filepath.Join(dir, stem(im)+outcome.JPEG.Extension())
				return runReference(ctx, out, outcome.JPEG,
					measure.Cmd{Args: []string{"djpeg", im.Path}, Env: systemLibraries},
					measure.Cmd{Args: []string{"cjpeg", "-quality", jpegQ, "-optimize", "-progressive", "-outfile", out}, Env: systemLibraries})
			},
		},
		{
			// The seed's approach, what Python's Wand runs: Debian's ImageMagick
			// 6, one process, the format kept (HEIC/AVIF, which it cannot read,
			// fail), its defaults: the input's chroma subsampling and metadata,
			// the EXIF orientation kept as a tag (viewers apply it).
			Name:        NaiveMagic,
			Command:     "convert IN -quality " + jpegQ + " OUT",
			OrientInput: true,
			applies:     func(im corpus.Image) bool { return true },
			run: func(ctx context.Context, im corpus.Image, dir string) (Outcome, error) {
				format := outcome.Written(im.Format, "")
				out := filepath.Join(dir, stem(im)+format.Extension())
				if format == "" {
					out = filepath.Join(dir, im.Name)
				}
				return runReference(ctx, out, format, measure.Cmd{Args: []string{IM6, im.Path, "-quality", jpegQ, out}, Env: systemLibraries})
			},
		},
		{
			// On the input with only the chunks ours keeps (image, palette,
			// transparency, colour), so both write the same chunks: -strip all
			// would also drop the colour chunks ours keeps.
			Name:    OptiPNG,
			Command: "optipng -o2 -out OUT IN (IN: the chunks ours keeps)",
			applies: isFormat(outcome.PNG),
			run: func(ctx context.Context, im corpus.Image, dir string) (Outcome, error) {
				out := filepath.Join(dir, stem(im)+outcome.PNG.Extension())
				in, err := keptChunksCopy(im, dir)
				if err != nil {
					return Outcome{Decision: "failed", Reason: err.Error()}, nil
				}
				return runReference(ctx, out, outcome.PNG,
					measure.Cmd{Args: []string{"optipng", "-o2", "-quiet", "-clobber", "-out", out, in}, Env: systemLibraries})
			},
		},
		{
			Name:    CWebP,
			Command: fmt.Sprintf("cwebp -q %d -m %d IN -o OUT", s.WebP.Quality, s.WebP.Method),
			applies: isFormat(outcome.WebP),
			run: func(ctx context.Context, im corpus.Image, dir string) (Outcome, error) {
				out := filepath.Join(dir, stem(im)+outcome.WebP.Extension())
				return runReference(ctx, out, outcome.WebP, measure.Cmd{Args: []string{"cwebp", "-quiet",
					"-q", strconv.Itoa(s.WebP.Quality), "-m", strconv.Itoa(s.WebP.Method), im.Path, "-o", out}, Env: systemLibraries})
			},
		},
	}
	need := map[string][]string{Ours: {p.Compress}, TurboJPEG: {"djpeg", "cjpeg"}, NaiveMagic: {IM6}, OptiPNG: {"optipng"}, CWebP: {"cwebp"}}
	for i, t := range tools {
		for _, bin := range need[t.Name] {
			if _, err := exec.LookPath(bin); err != nil {
				tools[i].Missing = fmt.Sprintf("%s not found (run make packages)", bin)
			}
		}
	}
	return tools
}

func isFormat(f outcome.Format) func(corpus.Image) bool {
	return func(im corpus.Image) bool {
		return im.Format == f && im.Category != corpus.Bomb && im.Category != corpus.Malformed
	}
}

func stem(im corpus.Image) string { return strings.TrimSuffix(im.Name, filepath.Ext(im.Name)) }

func runReference(ctx context.Context, out string, format outcome.Format, cmds ...measure.Cmd) (Outcome, error) {
	_ = os.Remove(out) // a stale output from an earlier round must not count
	s, err := measure.Run(ctx, nil, nil, cmds...)
	o := Outcome{Sample: s, Decision: outcome.Compressed, FormatOut: format}
	if err != nil {
		return o, err
	}
	if _, statErr := os.Stat(out); s.ExitCode != 0 || statErr != nil {
		o.Decision, o.Reason = outcome.Failed, firstLine(s.Stderr)
		return o, nil
	}
	o.Output = out
	return o, nil
}

func runOurs(ctx context.Context, p Paths, im corpus.Image, dir string) (Outcome, error) {
	var stdout bytes.Buffer
	s, err := measure.Run(ctx, nil, &stdout, measure.Cmd{Args: []string{p.Compress, "-config", p.Config, "-out", dir, im.Path}})
	o := Outcome{Sample: s}
	if err != nil {
		return o, err
	}
	var l outcome.File
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &l); err != nil {
		return o, fmt.Errorf("compress printed %q (exit %d, stderr %q), want one JSON line: %w", stdout.String(), s.ExitCode, firstLine(s.Stderr), err)
	}
	o.Decision, o.Reason, o.FormatOut, o.PipelineMillis = l.Decision, l.Reason, l.FormatOut, float64(l.Millis)
	if l.Decision != outcome.Rejected {
		if l.Output == "" {
			return o, fmt.Errorf("compress decided %q but named no output", l.Decision)
		}
		o.Output = l.Output
	}
	return o, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// keptChunks are the chunks the pipeline's PNG output has: the image, its
// palette and transparency, and the input's colour chunks.
var keptChunks = map[string]bool{
	"IHDR": true, "PLTE": true, "tRNS": true, "IDAT": true, "IEND": true,
	"gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true, "cICP": true, "mDCv": true, "cLLi": true,
}

// keptChunksCopy writes im with only keptChunks into dir and returns its path.
func keptChunksCopy(im corpus.Image, dir string) (string, error) {
	data, err := os.ReadFile(im.Path)
	if err != nil {
		return "", err
	}
	const sig = "\x89PNG\r\n\x1a\n"
	if !strings.HasPrefix(string(data), sig) {
		return "", fmt.Errorf("%s: not a PNG", im.Name)
	}
	out := []byte(sig)
	for pos := len(sig); pos+12 <= len(data); {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		if n > len(data)-pos-12 {
			return "", fmt.Errorf("%s: chunk at %d runs past the end", im.Name, pos)
		}
		if keptChunks[string(data[pos+4:pos+8])] {
			out = append(out, data[pos:pos+12+n]...)
		}
		pos += 12 + n
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "input-"+im.Name)
	return path, os.WriteFile(path, out, 0o644)
}
