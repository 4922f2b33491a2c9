// Package report turns a benchmark run's raw results into the published
// report: per-format tables, pair-by-pair ratios against the references,
// the targets with pass or miss, and charts.
package report

import (
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/coldstart"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/quality"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/renditions"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
)

// Results is everything one `make bench` measured; the harness writes it as
// JSON next to the report, so figures can be re-derived.
type Results struct {
	Date      time.Time
	Command   string
	Machine   Machine
	Corpus    string
	Generated bool // the corpus was absent: images were generated
	Runs      int
	Settings  config.Settings
	Tools     []Tool
	Images    []corpus.Image
	Samples   []Sample
	Scores    []Score
	InProc    []InProcSample
	Power     []quality.Point // compression power: SSIMULACRA2 curves and the quality search
	Cold      []coldstart.Sample
	ColdErr   string // why cold start was not (fully) measured
	// Renditions are ours' WebP and AVIF renditions against the references
	// at equal SSIM; RenditionsNote says what was not measured and why.
	Renditions     []renditions.Sample
	RenditionsNote string
	Lambda         Lambda
	Elapsed        time.Duration
}

// Machine describes where the figures come from.
type Machine struct {
	CPU         string
	Cores       int
	MemoryBytes int64
	OS, Kernel  string
	Go          string
}

// Tool is a compressor as run, with its version.
type Tool struct {
	Name, Command, Version string
	Missing                string // not run, and why
}

// Sample is one tool run on one image in one round.
type Sample struct {
	Tool, Image    string
	Round          int
	WallMs, CPUMs  float64
	MaxRSS         int64
	ExitCode       int
	OutBytes       int64
	FormatOut      outcome.Format
	Decision       outcome.Decision
	Reason         string
	PipelineMillis float64
	Err            string // the harness could not run or read it
}

// Score is the SSIM and SSIMULACRA2 of a tool's output for an image against
// the image.
type Score struct {
	Tool, Image string
	SSIM        float64
	S2          float64 // 0 when not measured (S2Err says why): JSON has no NaN
	Err, S2Err  string
}

// InProcSample is one round of the in-process Go benchmark of the pipeline
// package on one image.
type InProcSample struct {
	Image      string
	Round      int
	NsPerOp    int64
	AllocBytes int64 // Go heap only: ImageMagick allocates in C
	Decision   outcome.Decision
	BytesOut   int
	Err        string
}
