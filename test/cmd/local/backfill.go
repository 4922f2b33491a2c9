package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/infra/backfill"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// runBackfillDemo is `make backfill-demo`: a throwaway stack whose source
// bucket has no notification (state in .local/backfill-demo, replaced on
// every run), the images of dir uploaded, then the backfill command run twice
// against it: the first run processes everything, the second finds every
// output already there and rewrites nothing.
func runBackfillDemo(ctx context.Context, root, state string, bins local.Binaries, settings config.Settings, dir string) error {
	dir, uploads, err := demoImages(ctx, state, bins, settings, dir)
	if err != nil {
		return err
	}
	demoState := filepath.Join(state, "backfill-demo")
	if err := os.RemoveAll(demoState); err != nil {
		return err
	}
	stack, err := local.Start(ctx, local.Options{
		Binaries: bins, StateDir: demoState, Settings: settings, Log: os.Stderr,
		NoNotifications: true, // the images are "already there": only the backfill sees them
	})
	if err != nil {
		return err
	}
	defer stack.Close()
	fmt.Printf("uploading %d images from %s to s3://%s/%s (no notification: nothing happens yet)\n",
		len(uploads), dir, stack.SourceBucket, settings.SourcePrefix)
	if err := uploadAll(ctx, stack, uploads); err != nil {
		return err
	}

	run := func(n int) (*backfill.Summary, error) {
		fmt.Printf("\n== backfill, run %d: bin/backfill -local -state %s -yes -wait\n", n, rel(root, demoState))
		return backfill.Run(ctx, backfill.Options{
			LocalStack: stack.BackfillFile, Yes: true, Wait: true, Poll: 500 * time.Millisecond,
			Out: os.Stdout, Progress: os.Stdout, Benchmarks: filepath.Join(root, "docs", "benchmarks.md"),
		})
	}
	first, err := run(1)
	if err != nil {
		return err
	}
	before, err := outputs(ctx, stack)
	if err != nil {
		return err
	}
	second, err := run(2)
	if err != nil {
		return err
	}
	after, err := outputs(ctx, stack)
	if err != nil {
		return err
	}
	fmt.Println()
	var problems []error
	if n := rewritten(before, after); n > 0 {
		problems = append(problems, fmt.Errorf("the second run rewrote %d outputs, want none", n))
	}
	done := map[string]bool{}
	for _, r := range first.Rows {
		switch outcome.ResultKind(r.ResultMessage) {
		case string(outcome.Compressed), string(outcome.KeptOriginal), outcome.Duplicate:
			done[r.Key] = true
		}
	}
	for _, r := range second.Rows {
		if done[r.Key] && outcome.ResultKind(r.ResultMessage) != outcome.Duplicate {
			problems = append(problems, fmt.Errorf("%s: done by the first run, the second says %q, want a duplicate", r.Key, r.ResultMessage))
		}
	}
	fmt.Printf("second run: %d of %d tasks found their output and left it alone (%d outputs, none rewritten); the other %d have no output to find (rejected or skipped again)\n",
		second.Kinds()[outcome.Duplicate], len(second.Rows), len(after), len(second.Rows)-second.Kinds()[outcome.Duplicate])
	return errors.Join(problems...)
}

// outputs maps each destination key to its ETag and modification time.
func outputs(ctx context.Context, stack *local.Stack) (map[string]string, error) {
	out := map[string]string{}
	p := s3.NewListObjectsV2Paginator(stack.S3, &s3.ListObjectsV2Input{Bucket: aws.String(stack.DestinationBucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = aws.ToString(o.ETag) + " " + aws.ToTime(o.LastModified).Format(time.RFC3339Nano)
		}
	}
	return out, nil
}

// rewritten counts the outputs of before that after changed or lost.
func rewritten(before, after map[string]string) int {
	n := 0
	for key, v := range before {
		if after[key] != v {
			n++
		}
	}
	return n
}
