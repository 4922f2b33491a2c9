// Command bench is `make bench`: it runs the compressor and the reference
// tools over the corpus in the same rounds, scores the outputs, measures the
// function's cold start, and writes docs/benchmarks.md with its charts.
//
//	cd test && go run ./cmd/bench [-runs N] [-images DIR] [-out FILE]
//
// BENCH_RUNS and IMAGES set the defaults of -runs and -images. The compress
// CLI and the bootstrap are taken from bin/ (`make build`).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/coldstart"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/inproc"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/quality"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/report"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/tools"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// perProcessTimeout bounds one tool on one image; a naive decode of a bomb
// must not stall the run.
const perProcessTimeout = 2 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	root, images, out, work, compress, bootstrap string
	runs                                         int
}

func parseFlags() (options, error) {
	var o options
	root, err := local.FindRoot(".")
	if err != nil {
		return o, err
	}
	o.root = root
	runs := 3
	if v := os.Getenv("BENCH_RUNS"); v != "" {
		if runs, err = strconv.Atoi(v); err != nil || runs < 1 {
			return o, fmt.Errorf("BENCH_RUNS=%q: want a positive number", v)
		}
	}
	images := os.Getenv("IMAGES")
	if images == "" {
		images = corpus.Dir(root)
	}
	flag.IntVar(&o.runs, "runs", runs, "rounds over the corpus (env BENCH_RUNS)")
	flag.StringVar(&o.images, "images", images, "directory of images; generated images when it does not exist (env IMAGES)")
	flag.StringVar(&o.out, "out", filepath.Join(root, "docs", "benchmarks.md"), "report to write; charts go to img/ beside it")
	flag.StringVar(&o.work, "work", "", "directory for outputs and results.json (default: a new temporary directory)")
	flag.StringVar(&o.compress, "compress", filepath.Join(root, "bin", "compress"), "the compress CLI (make build)")
	flag.StringVar(&o.bootstrap, "bootstrap", filepath.Join(root, "bin", "bootstrap"), "the Lambda bootstrap (make build)")
	flag.Parse()
	if o.runs < 1 {
		return o, fmt.Errorf("-runs %d: want at least 1", o.runs)
	}
	// The emulator runs the bootstrap from its own directory.
	for _, p := range []*string{&o.compress, &o.bootstrap, &o.images, &o.out} {
		if *p, err = filepath.Abs(*p); err != nil {
			return o, err
		}
	}
	if o.work == "" {
		o.work, err = os.MkdirTemp("", "bench-")
		return o, err
	}
	return o, os.MkdirAll(o.work, 0o755)
}

func run(ctx context.Context) error {
	start := time.Now()
	o, err := parseFlags()
	if err != nil {
		return err
	}
	for _, bin := range []string{o.compress, o.bootstrap} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%w: run `make build` first", err)
		}
	}
	logf("work directory %s", o.work)
	prefix, err := local.EnsureMagick(ctx, o.root, os.Stderr)
	if err != nil {
		return err
	}
	magick := filepath.Join(prefix, "bin", "magick")

	r := &report.Results{Date: start, Command: commandLine(o), Runs: o.runs, Settings: config.Default(), Corpus: o.images, Machine: machine()}
	images, err := loadCorpus(ctx, o, magick, r)
	if err != nil {
		return err
	}
	settingsPath := filepath.Join(o.work, "bench-settings.json")
	doc, err := json.MarshalIndent(r.Settings, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(settingsPath, doc, 0o644); err != nil {
		return err
	}
	all := tools.New(tools.Paths{Compress: o.compress, Magick: magick, Config: settingsPath}, r.Settings)
	for _, t := range all {
		r.Tools = append(r.Tools, report.Tool{Name: t.Name, Command: t.Command, Missing: t.Missing, Version: version(ctx, t.Name, magick, o.root)})
	}

	outDir := filepath.Join(o.work, "out")
	for round := 1; round <= o.runs; round++ {
		roundStart := time.Now()
		for _, im := range images {
			for _, t := range all {
				if !t.Applies(im) {
					continue
				}
				r.Samples = append(r.Samples, runTool(ctx, t, im, outDir, round))
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		inprocStart := time.Now()
		res, err := inproc.Run(ctx, images, r.Settings)
		if err != nil {
			return err
		}
		for _, x := range res {
			r.InProc = append(r.InProc, report.InProcSample{Image: x.Image, Round: round, NsPerOp: x.NsPerOp, AllocBytes: x.AllocBytes, Decision: x.Decision, BytesOut: x.BytesOut, Err: x.Err})
		}
		logf("round %d/%d: tools %s, in-process %s", round, o.runs, inprocStart.Sub(roundStart).Round(time.Second), time.Since(inprocStart).Round(time.Second))
	}

	scoreStart := time.Now()
	s2 := &tools.S2Scorer{Tool: jxlTool(ctx, o.root, "ssimulacra2"), Magick: magick, Dir: filepath.Join(o.work, "ssim")}
	r.Scores = score(ctx, magick, s2, filepath.Join(o.work, "ssim"), all, images, r.Samples, outDir)
	logf("SSIM of %d outputs: %s", len(r.Scores), time.Since(scoreStart).Round(time.Second))

	measureRenditions(ctx, o, magick, r, images)
	if s2.Tool != "" {
		powerStart := time.Now()
		r.Power = quality.Run(ctx, quality.Options{
			Compress: o.compress, Magick: magick, Scorer: s2, Dir: filepath.Join(o.work, "power"),
			Settings: r.Settings, Log: logf,
		}, images)
		logf("compression power: %d encodes in %s", len(r.Power), time.Since(powerStart).Round(time.Second))
	} else {
		logf("no ssimulacra2 tool: the compression power study is skipped")
	}

	coldStart(ctx, o, r, largest(images))
	lambdaShaped(ctx, o, r, images)

	r.Elapsed = time.Since(start)
	raw, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.work, "results.json"), raw, 0o644); err != nil {
		return err
	}
	if err := report.Write(o.out, r); err != nil {
		return err
	}
	logf("wrote %s (raw results: %s) in %s", o.out, filepath.Join(o.work, "results.json"), r.Elapsed.Round(time.Second))
	return nil
}

func loadCorpus(ctx context.Context, o options, magick string, r *report.Results) ([]corpus.Image, error) {
	var images []corpus.Image
	var err error
	if _, statErr := os.Stat(o.images); statErr == nil {
		images, err = corpus.Load(ctx, o.images, magick)
	} else {
		r.Generated = true
		logf("%s not found: generating images with ImageMagick's built-in patterns", o.images)
		images, err = corpus.Generate(ctx, filepath.Join(o.work, "generated"), magick)
	}
	r.Images = images
	return images, err
}

func runTool(ctx context.Context, t tools.Tool, im corpus.Image, outDir string, round int) report.Sample {
	ctx, cancel := context.WithTimeout(ctx, perProcessTimeout)
	defer cancel()
	out, err := t.Run(ctx, im, outDir)
	s := report.Sample{
		Tool: t.Name, Image: im.Name, Round: round,
		WallMs: ms(out.Wall), CPUMs: ms(out.CPU), MaxRSS: out.MaxRSS, ExitCode: out.ExitCode,
		OutBytes: out.OutBytes, FormatOut: out.FormatOut, Decision: out.Decision, Reason: out.Reason, PipelineMillis: out.PipelineMillis,
	}
	if err != nil {
		s.Err = err.Error()
		logf("%v", err)
	}
	return s
}

// score computes SSIM for the last round's outputs; the tools are
// deterministic, so one score per tool and image holds for every round.
// Two workers: nothing is being timed any more.
func score(ctx context.Context, magick string, s2 *tools.S2Scorer, dir string, all []tools.Tool, images []corpus.Image, samples []report.Sample, outDir string) []report.Score {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return []report.Score{{Err: err.Error()}}
	}
	scorer := &tools.Scorer{Magick: magick, Dir: dir}
	byName := map[string]corpus.Image{}
	for _, im := range images {
		byName[im.Name] = im
	}
	orient := map[string]bool{}
	for _, t := range all {
		orient[t.Name] = t.OrientInput
	}
	last := map[[2]string]report.Sample{}
	for _, s := range samples {
		last[[2]string{s.Tool, s.Image}] = s
	}
	type job struct {
		tool, output string
		im           corpus.Image
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var scores []report.Score
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				v, err := scorer.SSIM(ctx, j.im.Path, j.output, orient[j.tool])
				sc := report.Score{Tool: j.tool, Image: j.im.Name, SSIM: v}
				if err != nil {
					sc.Err = err.Error()
				}
				if s2.Tool == "" {
					sc.S2Err = "no ssimulacra2 tool"
				} else if sc.S2, err = s2.Score(ctx, j.im.Path, j.output, orient[j.tool]); err != nil {
					sc.S2, sc.S2Err = 0, err.Error()
				}
				mu.Lock()
				scores = append(scores, sc)
				mu.Unlock()
			}
		}()
	}
	for k, s := range last {
		im := byName[k[1]]
		if s.Err != "" || s.OutBytes == 0 || im.Category == corpus.Malformed || im.Category == corpus.Bomb {
			continue
		}
		out, ok := outputPath(outDir, s.Tool, im)
		if !ok {
			continue
		}
		jobs <- job{tool: s.Tool, output: out, im: im}
	}
	close(jobs)
	wg.Wait()
	return scores
}

// jxlTool is the path of one of libjxl's tools (ssimulacra2): in the
// directory `layers/imagemagick/local.sh jxl-tools` builds and prints, or in
// $JXL_TOOLS; "" when neither has it.
func jxlTool(ctx context.Context, root, name string) string {
	dir := os.Getenv("JXL_TOOLS")
	if dir == "" {
		out, err := exec.CommandContext(ctx, "bash", filepath.Join(root, "layers", "imagemagick", "local.sh"), "jxl-tools").Output()
		if err != nil {
			logf("local.sh jxl-tools: %v", err)
			return ""
		}
		dir = strings.TrimSpace(string(out))
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		logf("%s: %v", name, err)
		return ""
	}
	return path
}

// outputPath finds a tool's output for an image: the file in its directory
// with the image's stem (tools may change the extension).
func outputPath(outDir, tool string, im corpus.Image) (string, bool) {
	stem := strings.TrimSuffix(im.Name, filepath.Ext(im.Name))
	matches, _ := filepath.Glob(filepath.Join(outDir, tool, globEscape(stem)+".*"))
	if len(matches) != 1 {
		return "", false
	}
	return matches[0], true
}

func globEscape(s string) string {
	return strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`).Replace(s)
}

// largest is the valid image with the most pixels: the one whose peak RSS
// must fit in the function's memory.
func largest(images []corpus.Image) corpus.Image {
	var best corpus.Image
	for _, im := range images {
		if im.Category != corpus.Malformed && im.Category != corpus.Bomb && im.Megapixels() > best.Megapixels() {
			best = im
		}
	}
	return best
}

func coldStart(ctx context.Context, o options, r *report.Results, photo corpus.Image) {
	rie, err := local.RIE.Ensure(ctx, o.root, os.Stderr)
	if err != nil {
		r.ColdErr = "aws-lambda-rie unavailable: " + err.Error()
		return
	}
	tiny, err := tinyJPEG()
	if err != nil {
		r.ColdErr = err.Error()
		return
	}
	data, err := os.ReadFile(photo.Path)
	if err != nil {
		r.ColdErr = err.Error()
		return
	}
	coldStart := time.Now()
	r.Cold, err = coldstart.Measure(ctx, coldstart.Options{
		RIE: rie, Bootstrap: o.bootstrap, TinyJPEG: tiny, MemoryMB: 256,
		Photo: coldstart.Object{Name: photo.Name, Data: data},
		Dir:   filepath.Join(o.work, "coldstart"), Settings: r.Settings,
	}, o.runs)
	if err != nil {
		r.ColdErr = err.Error()
		logf("cold start: %v", err)
	}
	logf("bootstrap under the emulator: %d samples in %s", len(r.Cold), time.Since(coldStart).Round(time.Second))
}

// tinyJPEG is a 64×48 gradient at quality 95: a real image the function
// re-encodes, in well under a millisecond of pixel work.
func tinyJPEG() ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{R: uint8(x * 4), G: uint8(y * 5), B: 128, A: 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func commandLine(o options) string {
	if os.Getenv("MAKELEVEL") == "" {
		return "cd test && go run ./cmd/bench " + strings.Join(os.Args[1:], " ")
	}
	cmd := "make bench"
	if v := os.Getenv("BENCH_RUNS"); v != "" {
		cmd = "BENCH_RUNS=" + v + " " + cmd
	}
	if v := os.Getenv("IMAGES"); v != "" {
		cmd += " IMAGES=" + v
	}
	return cmd
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func logf(format string, args ...any) { slog.Info(fmt.Sprintf(format, args...)) }
