// Command compress runs the compressor's image pipeline on local files, with
// the same settings schema as the Lambda, so settings can be tuned before
// deploying and the pipeline benchmarked without AWS:
//
//	compress [-config FILE] -out DIR [-strict] FILE|DIR...
//
// Directories are walked recursively. Every configured output of an input is
// written under the file name its destination key would have (the input's
// relative path with the output's suffix, and the extension changed when the
// format is: a.jpg -> a.jpg, a.webp, a-640.avif). Each output prints one JSON
// line on stdout (outcome.File); a rejected input prints one line and writes
// no file.
//
// Exit status: 0 when every input was processed (whatever the decisions),
// 1 when an input could not be read or written or, with -strict, when any
// input was rejected, 2 for usage errors.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("compress", flag.ContinueOnError)
	fl.SetOutput(stderr)
	configFile := fl.String("config", "", "settings as JSON (the schema of COMPRESSOR_SETTINGS); default: the built-in defaults")
	outDir := fl.String("out", "", "directory for the outputs (created if missing)")
	strict := fl.Bool("strict", false, "exit 1 when any input is rejected")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: compress [-config FILE] -out DIR [-strict] FILE|DIR...")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "compress: "+format+"\n", a...)
		fl.Usage()
		return exitUsage
	}
	if *outDir == "" || fl.NArg() == 0 {
		return usage("-out and at least one input are required")
	}
	settings, err := loadSettings(*configFile)
	if err != nil {
		return usage("%v", err)
	}
	inputs, err := collect(fl.Args(), *outDir)
	if err != nil {
		return usage("%v", err)
	}
	if err := pipeline.Initialize(0); err != nil {
		fmt.Fprintf(stderr, "compress: %v\n", err)
		return exitFailed
	}
	defer pipeline.Terminate()
	if err := pipeline.CheckOutputs(settings); err != nil {
		return usage("-config: %v", err)
	}

	enc := json.NewEncoder(stdout)
	code := exitOK
	for _, in := range inputs {
		for _, l := range compress(ctx, in, *outDir, settings) {
			if err := enc.Encode(l); err != nil {
				fmt.Fprintf(stderr, "compress: write result: %v\n", err)
				return exitFailed
			}
			switch {
			case l.Decision == outcome.Failed:
				code = exitFailed
			case l.Decision == outcome.Rejected && *strict:
				code = exitFailed
			}
		}
		if ctx.Err() != nil {
			return exitFailed
		}
	}
	return code
}

// loadSettings parses the config file over the defaults (config.Parse), or
// returns the defaults.
func loadSettings(file string) (config.Settings, error) {
	if file == "" {
		return config.Default(), nil
	}
	doc, err := os.ReadFile(file)
	if err != nil {
		return config.Settings{}, fmt.Errorf("read -config: %w", err)
	}
	s, err := config.Parse(doc)
	if err != nil {
		return config.Settings{}, fmt.Errorf("-config %s: %w", file, err)
	}
	return s, nil
}

// input is a file to process and its path relative to the output directory.
type input struct{ path, rel string }

// collect expands the arguments: a file stands for itself (output under its
// base name), a directory for the regular files below it (output under their
// paths relative to it), skipping the output directory if it lies inside.
func collect(args []string, outDir string) ([]input, error) {
	outAbs, err := filepath.Abs(outDir)
	if err != nil {
		return nil, err
	}
	var inputs []input
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			inputs = append(inputs, input{arg, filepath.Base(arg)})
			continue
		}
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if abs, _ := filepath.Abs(path); d.IsDir() && abs == outAbs {
				return filepath.SkipDir
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(arg, path)
			inputs = append(inputs, input{path, rel})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return inputs, nil
}

// compress runs one input through the pipeline: one decode, then each
// output made and written in turn, one line each.
func compress(ctx context.Context, in input, outDir string, s config.Settings) []outcome.File {
	line := outcome.File{Input: in.path}
	fail := func(lines []outcome.File, err error) []outcome.File {
		line.Decision, line.Reason, line.Output = outcome.Failed, err.Error(), ""
		return append(lines, line)
	}
	data, err := os.ReadFile(in.path)
	if err != nil {
		return fail(nil, err)
	}
	start := time.Now()
	img, err := pipeline.Decode(ctx, data, s)
	if err != nil {
		return fail(nil, err)
	}
	defer img.Close()
	line.FormatIn, line.BytesIn = img.Format(), len(data)
	if reason := img.Rejection(); reason != "" {
		line.Decision, line.Reason, line.Millis = outcome.Rejected, reason, time.Since(start).Milliseconds()
		return []outcome.File{line}
	}
	var lines []outcome.File
	for _, o := range s.Outputs {
		r, err := img.Render(ctx, o)
		line.Millis = time.Since(start).Milliseconds()
		start = time.Now()
		if err != nil {
			return fail(lines, err)
		}
		line.FormatOut, line.Width, line.Height, line.Score, line.Quality = r.FormatOut, r.Width, r.Height, r.Score, r.Quality
		line.BytesOut, line.Decision, line.Reason, line.Output = r.BytesOut, r.Decision, r.Reason, ""
		if r.Decision.Stored() {
			line.Output = filepath.Join(outDir, outputName(s, in.rel, o))
			if err := writeFile(line.Output, r.Output); err != nil {
				return fail(lines, err)
			}
		}
		lines = append(lines, line)
	}
	return lines
}

// outputName is the relative output path: the destination key the Lambda
// would write (config.Settings.OutputKey), without the prefixes.
func outputName(s config.Settings, rel string, o config.Output) string {
	s.SourcePrefix, s.DestinationPrefix = "", ""
	return filepath.FromSlash(s.OutputKey(filepath.ToSlash(rel), o))
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
