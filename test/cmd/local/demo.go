package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// runDemo is `make demo`: a throwaway stack (state in .local/demo, replaced on
// every run, kept afterwards for its logs), every image of dir uploaded under
// the source prefix, a summary once each upload has its outcome.
func runDemo(ctx context.Context, root, state string, bins local.Binaries, settings config.Settings, dir string, timeout time.Duration) error {
	dir, uploads, err := demoImages(ctx, state, bins, settings, dir)
	if err != nil {
		return err
	}

	demoState := filepath.Join(state, "demo")
	if err := os.RemoveAll(demoState); err != nil {
		return err
	}
	outcomes := local.NewRecorder()
	stack, err := local.Start(ctx, local.Options{
		Binaries: bins,
		StateDir: demoState,
		Settings: settings,
		Log:      os.Stderr,
		OnOutcome: func(o outcome.Record) {
			outcomes.Add(o)
			fmt.Println(local.Line(o))
		},
	})
	if err != nil {
		return err
	}
	defer stack.Close()
	fmt.Printf("uploading %d images from %s to s3://%s/%s (MinIO at %s)\n",
		len(uploads), dir, stack.SourceBucket, settings.SourcePrefix, stack.Endpoint)
	start := time.Now()
	if err := uploadAll(ctx, stack, uploads); err != nil {
		return err
	}

	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	keys := make([]string, len(uploads))
	for i, u := range uploads {
		keys[i] = u.key
	}
	waitErr := outcomes.Wait(waitCtx, 1, keys...)
	elapsed := time.Since(start)

	bad, err := printSummary(uploads, outcomes, elapsed)
	if err != nil {
		return err
	}
	fmt.Printf("logs: %s; failures: %s\n", rel(root, stack.LogDir), rel(root, stack.FailuresFile))
	switch {
	case waitErr != nil:
		return fmt.Errorf("%d of %d uploads got no outcome within %s", bad, len(uploads), timeout)
	case bad > 0:
		return fmt.Errorf("%d of %d uploads failed", bad, len(uploads))
	}
	return nil
}

// demoImages are the uploads of dir, or of the generated samples when dir
// is "", and the folder they come from; it says which files it leaves out.
func demoImages(ctx context.Context, state string, bins local.Binaries, settings config.Settings, dir string) (string, []upload, error) {
	if dir == "" {
		var err error
		if dir, err = ensureSamples(ctx, bins.Magick(), filepath.Join(state, "samples")); err != nil {
			return "", nil, err
		}
	}
	uploads, ignored, err := listImages(dir, settings)
	if err != nil {
		return "", nil, err
	}
	for _, name := range ignored {
		fmt.Printf("not uploading %s: no notification rule matches its suffix\n", name)
	}
	if len(uploads) == 0 {
		return "", nil, fmt.Errorf("no image in %s has one of the suffixes %s", dir, strings.Join(settings.Suffixes, " "))
	}
	return dir, uploads, nil
}

type upload struct {
	path, key string
	size      int64
}

// listImages walks dir; each file becomes a key under the source prefix.
// Files whose key no notification rule matches are listed apart: uploading
// them would only show that nothing happens.
func listImages(dir string, settings config.Settings) (uploads []upload, ignored []string, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		name, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		key := settings.SourcePrefix + filepath.ToSlash(name)
		if !settings.Matches(key) {
			ignored = append(ignored, name)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		uploads = append(uploads, upload{path: path, key: key, size: info.Size()})
		return nil
	})
	return uploads, ignored, err
}

// uploadAll puts the files four at a time, as a user's sync tool would.
func uploadAll(ctx context.Context, stack *local.Stack, uploads []upload) error {
	work := make(chan upload)
	errs := make(chan error, len(uploads))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for u := range work {
				errs <- putFile(ctx, stack, u)
			}
		})
	}
	for _, u := range uploads {
		work <- u
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

func putFile(ctx context.Context, stack *local.Stack, u upload) error {
	f, err := os.Open(u.path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, err = stack.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(stack.SourceBucket),
		Key:           aws.String(u.key),
		Body:          f,
		ContentLength: aws.Int64(u.size),
	})
	if err != nil {
		return fmt.Errorf("upload %s: %w", u.key, err)
	}
	return nil
}

// printSummary prints one row per output of each upload (one row for an
// upload without outputs) and the totals; it returns how many uploads have no
// acceptable outcome (none, failed, or rejected without a reason).
func printSummary(uploads []upload, outcomes *local.Recorder, elapsed time.Duration) (bad int, err error) {
	var rows strings.Builder
	rows.WriteString("key\tdecision\toutput\tformat\tsize\tbytes in\tbytes out\tsaved\tms\tnote\n")
	var in, out int64
	records, outputs, formats := map[string]int{}, map[string]int{}, map[outcome.Format]int64{}
	for _, u := range uploads {
		o, ok := outcomes.Last(u.key)
		if !ok {
			bad++
			records["without outcome"]++
			fmt.Fprintf(&rows, "%s\tNONE\t\t\t\t%s\t\t\t\tno outcome: see the logs\n", u.key, local.HumanBytes(u.size))
			continue
		}
		records[string(o.Decision)]++
		if !acceptable(o) {
			bad++
		}
		if len(o.Outputs) == 0 {
			fmt.Fprintf(&rows, "%s\t%s\t\t\t\t%s\t\t\t%d\t%s\n", o.Key, o.Decision, local.HumanBytes(o.BytesIn), o.Millis, o.Reason)
		}
		for i, x := range o.Outputs {
			outputs[string(x.Decision)]++
			saved, size, bytesOut := "", "", ""
			if x.Decision.Stored() {
				in += o.BytesIn
				out += x.Bytes
				formats[x.Format] += x.Bytes
				saved = fmt.Sprintf("%.0f%%", 100*(1-float64(x.Bytes)/float64(o.BytesIn)))
				size = fmt.Sprintf("%dx%d", x.Width, x.Height)
				bytesOut = local.HumanBytes(x.Bytes)
			}
			key, decision, bytesIn, ms := o.Key, string(o.Decision), local.HumanBytes(o.BytesIn), strconv.FormatInt(o.Millis, 10)
			if i > 0 { // the upload's columns once
				key, decision, bytesIn, ms = "", "", "", ""
			}
			fmt.Fprintf(&rows, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", key, decision,
				strings.TrimPrefix(x.Key, path.Dir(o.Key)+"/"), x.Format, size, bytesIn, bytesOut, saved, ms, x.Reason)
		}
	}
	saved := 0.0
	if in > 0 {
		saved = 100 * (1 - float64(out)/float64(in))
	}
	var perFormat []string
	for f, n := range formats {
		perFormat = append(perFormat, fmt.Sprintf("%s %s", f, local.HumanBytes(n)))
	}
	sort.Strings(perFormat)
	fmt.Fprintf(&rows, "\n%d uploads (%s), %d outputs (%s) in %s; outputs %s (%s), saved %.1f%% against serving the upload for each\n",
		len(uploads), counts(records), sum(outputs), counts(outputs), elapsed.Round(100*time.Millisecond),
		local.HumanBytes(out), strings.Join(perFormat, ", "), saved)

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	if _, err := io.WriteString(w, "\n"+rows.String()); err != nil {
		return bad, err
	}
	return bad, w.Flush()
}

func counts(m map[string]int) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// acceptable is an outcome a user can act on: an output, a rejection that
// says why, or outputs each saying why they could not be made.
func acceptable(o outcome.Record) bool {
	return o.Decision.Stored() || o.Decision == outcome.Rejected && o.Reason != "" ||
		o.Decision == outcome.Skipped && len(o.Outputs) > 0 && o.Reason != ""
}
