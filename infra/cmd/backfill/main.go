// Command backfill compresses the images already in an environment's source
// bucket: it creates an S3 Batch Operations job that runs the compressor over
// them, after saying how many objects and bytes that is and what it should
// cost.
//
//	backfill -env prod [-manifest generated|list|inventory] [-prefix uploads/2024/]
//	         [-created-after 2024-01-01] [-created-before 2025-01-01] [-yes] [-wait]
//	backfill -local [-state .local] -yes -wait      # the local stack of make local
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/infra/backfill"
)

func main() {
	var (
		o             backfill.Options
		useLocal      bool
		state         string
		createdAfter  = timeFlag{}
		createdBefore = timeFlag{}
	)
	flag.StringVar(&o.Env, "env", "", "the environment of cdk.json to backfill")
	flag.StringVar(&o.CDKJSON, "cdk-json", "", "cdk.json (default: the nearest at or above this directory)")
	flag.BoolVar(&useLocal, "local", false, "backfill the local stack (make local) instead of AWS")
	flag.StringVar(&state, "state", "", "with -local: the local stack's state directory (default: .local of the repository)")
	flag.StringVar(&o.Manifest, "manifest", backfill.ManifestGenerated, "which objects: "+strings.Join(backfill.Manifests, ", ")+
		" (S3 lists the bucket; this command lists it and writes a CSV; the bucket's S3 Inventory)")
	flag.StringVar(&o.Prefix, "prefix", "", "only keys under this prefix, inside the source prefix (default: the source prefix)")
	flag.Var(&createdAfter, "created-after", "only objects created (last modified) after this time: 2024-01-31 or RFC 3339")
	flag.Var(&createdBefore, "created-before", "only objects created before this time")
	flag.BoolVar(&o.Yes, "yes", false, "start without asking")
	flag.BoolVar(&o.Wait, "wait", false, "follow the job to its end and summarise its completion report")
	flag.DurationVar(&o.Poll, "poll", 0, "how often -wait looks at the job (default 10s, 1s with -local)")
	flag.StringVar(&o.Benchmarks, "benchmarks", "", "the benchmark report whose figures price the function's time (default: docs/benchmarks.md of the repository)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	o.CreatedAfter, o.CreatedBefore = createdAfter.t, createdBefore.t

	if o.CDKJSON == "" || o.Benchmarks == "" || (useLocal && state == "") {
		root, err := repositoryRoot()
		if err != nil {
			fail(err)
		}
		if o.CDKJSON == "" {
			o.CDKJSON = filepath.Join(root, "cdk.json")
		}
		if state == "" {
			state = filepath.Join(root, ".local")
		}
		if o.Benchmarks == "" {
			o.Benchmarks = filepath.Join(root, "docs", "benchmarks.md")
		}
	}
	if useLocal {
		o.LocalStack = filepath.Join(state, backfill.LocalStackFile)
		if o.Poll == 0 {
			o.Poll = time.Second
		}
	}
	o.In, o.Out, o.Progress = os.Stdin, os.Stdout, os.Stderr
	if info, err := os.Stderr.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
		o.Redraw = true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := backfill.Run(ctx, o); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "backfill:", err)
	if errors.Is(err, backfill.ErrNotConfirmed) {
		os.Exit(2)
	}
	os.Exit(1)
}

// repositoryRoot is the nearest directory at or above this one with cdk.json.
func repositoryRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "cdk.json")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no cdk.json at or above %s: run inside the s3-image-compressor checkout, or give -cdk-json", dir)
		}
	}
}

// timeFlag takes a date (UTC midnight) or an RFC 3339 time.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	for _, layout := range []string{time.DateOnly, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			f.t = t
			return nil
		}
	}
	return fmt.Errorf("%q: want a date (2024-01-31) or an RFC 3339 time (2024-01-31T12:00:00Z)", s)
}
