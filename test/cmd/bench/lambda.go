package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
	"github.com/s3-image-compressor/s3-image-compressor/test/bench/report"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/lambda"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// lambdaParallel environments at once: six 256 MB shares take 0.87 of a
// core, which leaves the rest of a 2-core machine to MinIO and the harness.
const lambdaParallel = 6

// lambdaShaped runs the corpus and the largest image each default limit
// allows through the real bootstrap at the default memory size and its CPU
// share (test/lambda), for the latency table.
func lambdaShaped(ctx context.Context, o options, r *report.Results, images []corpus.Image) {
	defaults := envconfig.Default("bench")
	r.Lambda = report.Lambda{MemoryMB: defaults.MemorySize, CPU: lambda.CPU(defaults.MemorySize), TimeoutSeconds: defaults.TimeoutSeconds}
	bins, err := binaries(ctx, o)
	if err != nil {
		r.Lambda.Err = err.Error()
		return
	}
	var inputs []lambda.Image
	pixels := map[string]int64{}
	for _, im := range images {
		data, err := os.ReadFile(im.Path)
		if err != nil {
			r.Lambda.Err = err.Error()
			return
		}
		inputs = append(inputs, lambda.Image{Name: im.Name, Data: data})
		pixels[im.Name] = int64(im.Width) * int64(im.Height) * int64(max(1, im.Frames))
	}
	largest, err := lambda.Largest(ctx, r.Settings.Limits, bins.Magick())
	if err != nil {
		r.Lambda.Err = err.Error()
		return
	}
	for _, im := range largest {
		inputs = append(inputs, im)
		pixels[im.Name] = im.Pixels
	}
	start := time.Now()
	results, err := lambda.Run(ctx, lambda.Options{
		Binaries: bins, StateDir: filepath.Join(o.work, "lambda"), MemoryMB: defaults.MemorySize,
		Timeout: time.Duration(defaults.TimeoutSeconds) * time.Second, Parallel: lambdaParallel,
	}, inputs)
	if err != nil {
		r.Lambda.Err = err.Error()
		logf("Lambda-shaped run: %v", err)
	}
	bytes := map[string]int64{}
	for _, im := range inputs {
		bytes[im.Name] = int64(len(im.Data))
	}
	for _, x := range results {
		s := report.LambdaSample{Image: x.Image, Pixels: pixels[x.Image], Bytes: bytes[x.Image], Decision: x.Decision, Reason: x.Reason, Millis: x.Millis, RSSPeak: x.RSSPeak, Killed: x.Exited}
		r.Lambda.Samples = append(r.Lambda.Samples, s)
	}
	logf("Lambda-shaped run: %d images in %s", len(results), time.Since(start).Round(time.Second))
}

// binaries are the programs the Lambda-shaped run needs: MinIO and the
// emulator from the cache, ImageMagick, and the bootstrap of `make build`.
func binaries(ctx context.Context, o options) (local.Binaries, error) {
	var b local.Binaries
	var err error
	if b.MinIO, err = local.MinIO.Ensure(ctx, o.root, os.Stderr); err != nil {
		return b, err
	}
	if b.RIE, err = local.RIE.Ensure(ctx, o.root, os.Stderr); err != nil {
		return b, err
	}
	if b.MagickPrefix, err = local.EnsureMagick(ctx, o.root, os.Stderr); err != nil {
		return b, err
	}
	b.Bootstrap = o.bootstrap
	return b, nil
}
