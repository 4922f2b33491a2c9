// Package lambda runs the real bootstrap under the runtime emulator in
// Lambda-shaped execution environments: each function process in a cgroup
// with the function's memory as a hard limit (no swap) and the CPU share
// Lambda gives that memory size, through the whole local stack (MinIO, the
// relay). It records per image what happened, how long it took and how much
// memory it used, and whether the kernel killed anything.
package lambda

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// FullCoreMB is the memory size at which Lambda gives a function one full
// vCPU; below it the CPU share is proportional to memory (AWS Lambda
// documentation, "Configuring function memory").
const FullCoreMB = 1769

// Options of a run.
type Options struct {
	Binaries local.Binaries
	StateDir string
	MemoryMB int           // the function's memory size, default 256
	Timeout  time.Duration // the function's timeout
	// Parallel is how many environments run at once (each its own cgroup);
	// their CPU shares together must fit the machine, or the times mean
	// nothing.
	Parallel int
	Log      io.Writer       // the stack's own messages; nil discards
	Settings config.Settings // the zero value means config.Default()
}

// CPU is the share of a core Lambda gives a function of memoryMB.
func CPU(memoryMB int) float64 { return min(1, float64(memoryMB)/FullCoreMB) }

// Image is one upload.
type Image struct {
	Name   string // unique; the key is uploads/lambda/<Name>
	Data   []byte
	Pixels int64 // of all frames, where known
}

// Result is what became of one image.
type Result struct {
	Image    string
	Decision outcome.Decision
	Reason   string
	Millis   int64 // the function's time for the record that finished it
	Attempts int   // invocations, retries included
	BytesOut int64 // written, all outputs together
	// RSSPeak is the bootstrap's peak resident set size while it ran this
	// image; CgroupPeak the environment's highest memory use (page cache,
	// such as that of ImageMagick's disk cache, included), HitLimit how
	// often that reached the limit and the kernel reclaimed, OOMKills the
	// processes it killed.
	RSSPeak, CgroupPeak, HitLimit, OOMKills int64
	// Exited says the bootstrap died during the image ("" when it did not).
	Exited string
}

// Run processes the images in waves of Options.Parallel, one per
// environment, so each environment's peak belongs to one image. It fails
// with ErrNoCgroups when this machine cannot make the environments.
func Run(ctx context.Context, o Options, images []Image) ([]Result, error) {
	if o.MemoryMB == 0 {
		o.MemoryMB = 256
	}
	o.Parallel = max(1, o.Parallel)
	if o.Log == nil {
		o.Log = io.Discard
	}
	groups := map[string]*cgroup{}
	defer func() {
		for _, g := range groups {
			g.remove()
		}
	}()
	for i := 1; i <= o.Parallel; i++ {
		name := fmt.Sprintf("function-%d", i)
		g, err := newCgroup(fmt.Sprintf("s3ic-lambda-%d-%s", os.Getpid(), name), int64(o.MemoryMB)<<20, CPU(o.MemoryMB))
		if err != nil {
			return nil, err
		}
		groups[name] = g
	}
	outcomes := local.NewRecorder()
	stack, err := local.Start(ctx, local.Options{
		Binaries:        o.Binaries,
		StateDir:        o.StateDir,
		MemoryMB:        o.MemoryMB,
		FunctionTimeout: o.Timeout,
		Functions:       o.Parallel,
		FunctionCommand: func(name string) []string { return groups[name].command() },
		Log:             o.Log,
		Settings:        o.Settings,
		OnOutcome:       outcomes.Add,
	})
	if err != nil {
		return nil, err
	}
	defer stack.Close()
	var results []Result
	for start := 0; start < len(images); start += o.Parallel {
		wave, err := runWave(ctx, stack, outcomes, groups, images[start:min(len(images), start+o.Parallel)], 3*o.Timeout+time.Minute)
		results = append(results, wave...)
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// runWave uploads one image per environment and waits for their outcomes.
func runWave(ctx context.Context, stack *local.Stack, outcomes *local.Recorder, groups map[string]*cgroup, images []Image, limit time.Duration) ([]Result, error) {
	before := map[string]usage{}
	logSizes := map[string]int64{}
	pids := map[string]int{}
	for name, g := range groups {
		_ = g.resetPeak() // where it cannot be reset, the peak is the run's so far
		pids[name] = g.bootstrap()
		resetRSSPeak(pids[name])
		u, err := g.usage()
		if err != nil {
			return nil, err
		}
		before[name] = u
		logSizes[name] = fileSize(filepath.Join(stack.LogDir, name+".log"))
	}
	for _, im := range images {
		if _, err := stack.S3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(stack.SourceBucket), Key: aws.String(key(im)), Body: bytes.NewReader(im.Data),
		}); err != nil {
			return nil, fmt.Errorf("upload %s: %w", im.Name, err)
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var results []Result
	for _, im := range images {
		r := Result{Image: im.Name}
		for {
			all := outcomes.For(key(im))
			if n := len(all); n > 0 && !(all[n-1].Decision == outcome.Failed && all[n-1].Retry) {
				last := all[n-1]
				r.Decision, r.Reason, r.Millis, r.Attempts, r.BytesOut = last.Decision, last.Reason, last.Millis, n, last.BytesOut
				break
			}
			if waitCtx.Err() != nil {
				r.Decision, r.Reason = outcome.Failed, fmt.Sprintf("no final outcome within %s", limit)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		results = append(results, r)
	}
	// Which environment ran which image: its log names the key.
	for name, g := range groups {
		u, err := g.usage()
		if err != nil {
			return results, err
		}
		log := readFrom(filepath.Join(stack.LogDir, name+".log"), logSizes[name])
		for i := range results {
			if !strings.Contains(log, key(Image{Name: results[i].Image})) {
				continue
			}
			results[i].RSSPeak, results[i].CgroupPeak = rssPeak(pids[name]), u.peak
			results[i].HitLimit = u.hitLimit - before[name].hitLimit
			results[i].OOMKills = u.oomKills - before[name].oomKills
			if at := strings.Index(log, "Runtime exited"); at >= 0 {
				results[i].Exited = firstLine(log[at:])
			}
		}
	}
	return results, nil
}

func key(im Image) string { return "uploads/lambda/" + im.Name }

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// readFrom returns what a log gained after offset.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	data, err := io.ReadAll(f)
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return string(data)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Table renders results as a Markdown table: the image, what became of it,
// the function's time, the peak memory and how often the limit was reached.
func Table(results []Result) string {
	var b strings.Builder
	b.WriteString("| image | decision | seconds | peak RSS MB | cgroup peak MB | reason |\n|---|---|---:|---:|---:|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %.1f | %d | %d | %s |\n", r.Image, r.Decision, float64(r.Millis)/1000, r.RSSPeak>>20, r.CgroupPeak>>20, clip(r.Reason, 90))
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
