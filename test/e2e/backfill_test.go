package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/failures"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
	"github.com/s3-image-compressor/s3-image-compressor/infra/backfill"
	"github.com/s3-image-compressor/s3-image-compressor/infra/batchops"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus/corpustest"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// Sizes of the backfilled bucket: earlier uploads (done by a first,
// narrower backfill) among the valid images, besides the broken files.
const (
	backfillValid   = 190
	backfillEarlier = 30
)

// TestBackfill backfills a bucket of images that were there before the
// function (its source bucket has no notification), through the local
// stand-in for S3 Batch Operations and the real bootstrap: a narrower job
// with the command's binary and a CSV manifest, then the whole prefix with a
// generated manifest, interrupted half-way by stopping the stack, and started
// again on the same data.
func TestBackfill(t *testing.T) {
	root, bins := binaries(t)
	state := t.TempDir()
	start := func() *local.Stack {
		t.Helper()
		stack, err := local.Start(t.Context(), local.Options{Binaries: bins, StateDir: state, Log: testLog{t}, NoNotifications: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stack.Close) // a second Close after an interruption does nothing
		return stack
	}
	e := &pipeline{t: t, stack: start(), magick: bins.Magick(), outcomes: local.NewRecorder(), etags: map[string]string{}}

	valid := backfillImages(t, e.magick, backfillValid)
	images, generated := corpustest.Images(t, e.magick)
	broken := hostileFiles(t, images, generated)
	e.putAll(append(slices.Clone(valid), broken...))
	e.putAll([]upload{{"uploads/backfill/notes.txt", []byte("no suffix of the settings: no task")}})
	own := "uploads/backfill/an output copied back.jpg"
	putOwnOutput(t, e, own, valid[0].data)
	tasks := len(valid) + len(broken) + 1

	t.Run("the command's binary, a listed CSV manifest, a narrower prefix", func(t *testing.T) {
		out := runBackfillBinary(t, root, state, "-manifest", "list", "-prefix", "uploads/backfill/earlier/")
		want := fmt.Sprintf("tasks %d, succeeded %d, permanent failures 0, temporary failures 0, report s3://%s/reports/job-", backfillEarlier, backfillEarlier, local.ReportsBucket)
		if !strings.Contains(out, want) || !strings.Contains(out, "objects: 30 (listed)") {
			t.Fatalf("backfill -manifest list printed:\n%s\nwant the objects counted and the summary %q", out, want)
		}
	})

	t.Run("interrupted half-way", func(t *testing.T) {
		s, err := backfill.Run(t.Context(), backfill.Options{LocalStack: e.stack.BackfillFile, Yes: true, Poll: 200 * time.Millisecond})
		if err != nil || s.JobID == "" {
			t.Fatalf("starting the job: %+v, %v", s, err)
		}
		half := backfillEarlier + (len(valid)-backfillEarlier)/2
		ctx, cancel := withinDeadline(t, 5*time.Minute)
		defer cancel()
		for len(outputsOf(t, e.stack)) < half {
			if ctx.Err() != nil {
				t.Fatalf("%d outputs after %s, want %d before interrupting", len(outputsOf(t, e.stack)), 5*time.Minute, half)
			}
			time.Sleep(100 * time.Millisecond)
		}
		e.stack.Close() // the job dies with the engine, mid-task
	})
	e.stack = start() // on the same data
	done := outputsOf(t, e.stack)
	t.Logf("interrupted with %d of %d images done", len(done), len(valid))
	if len(done) >= len(valid) {
		t.Fatalf("every image was done before the interruption; the test needs a job stopped half-way")
	}

	var summary *backfill.Summary
	t.Run("started again, it completes", func(t *testing.T) {
		var out bytes.Buffer
		var err error
		summary, err = backfill.Run(t.Context(), backfill.Options{LocalStack: e.stack.BackfillFile, Yes: true, Wait: true, Poll: 200 * time.Millisecond, Out: &out})
		t.Log(out.String())
		if err != nil {
			t.Fatal(err)
		}
		if summary.Tasks != int64(tasks) || summary.Missing() != 0 {
			t.Errorf("%d tasks, %d without result; want %d (every image, broken file and the copied output), none missing", summary.Tasks, summary.Missing(), tasks)
		}
		ok, permanent, temporary := summary.Count()
		if ok != tasks-len(broken) || permanent != len(broken) || temporary != 0 {
			t.Errorf("succeeded %d, permanent %d, temporary %d; want %d, %d, 0", ok, permanent, temporary, tasks-len(broken), len(broken))
		}
	})
	if summary == nil {
		t.FailNow()
	}

	rows := map[string]batchops.ReportRow{}
	for _, r := range summary.Rows {
		rows[r.Key] = r
	}
	after := outputsOf(t, e.stack)
	t.Run("what was done is not done again", func(t *testing.T) {
		for key, before := range done {
			if after[key] != before {
				t.Errorf("output %s changed from %s to %s: rewritten after the interruption", key, before, after[key])
			}
		}
		for _, u := range valid {
			r, ok := rows[u.key]
			kind := outcome.ResultKind(r.ResultMessage)
			dest := e.stack.Settings.OutputKey(u.key, e.stack.Settings.Outputs[0])
			switch _, wasDone := done[dest]; {
			case !ok:
				t.Errorf("%s: no row in the completion report", u.key)
			case wasDone && kind != outcome.Duplicate:
				t.Errorf("%s: done before the interruption, now %q; want a duplicate", u.key, r.ResultMessage)
			case !wasDone && kind != string(outcome.Compressed) && kind != string(outcome.KeptOriginal):
				t.Errorf("%s: %q, want it compressed now", u.key, r.ResultMessage)
			}
		}
	})
	sources := map[string]string{} // source key -> its output's key, by the outputs' provenance
	for _, d := range e.destinationObjects(t) {
		sources[d.sourceKey] = d.key
	}
	t.Run("every image has its output", func(t *testing.T) {
		for i, u := range valid {
			dest, ok := sources[u.key]
			if !ok {
				t.Errorf("%s: no output names it as its source", u.key)
				continue
			}
			if i%37 == 0 { // decoding every output would take long; a sample of formats and keys
				if _, err := e.decode(t, []byte(getObject(t, e.stack, dest)), dest); err != nil {
					t.Errorf("%s: output %s does not decode: %v", u.key, dest, err)
				}
			}
		}
	})
	t.Run("broken files fail for good and are recorded", func(t *testing.T) {
		recorded := e.failureLines(t)
		for _, u := range broken {
			r := rows[u.key]
			if r.TaskStatus != batchops.TaskFailed || r.ErrorCode != string(outcome.PermanentFailure) || outcome.ResultKind(r.ResultMessage) != string(outcome.Rejected) {
				t.Errorf("%s: %+v, want a PermanentFailure saying rejected and why", u.key, r)
			}
			if !slices.ContainsFunc(recorded, func(f failures.Failure) bool { return f.Key == u.key && f.Decision == outcome.Rejected }) {
				t.Errorf("%s: not in the failures file %s", u.key, e.stack.FailuresFile)
			}
			if dest, ok := sources[u.key]; ok {
				t.Errorf("%s: has an output %s, want none", u.key, dest)
			}
		}
	})
	t.Run("an output copied into the source is skipped", func(t *testing.T) {
		if r := rows[own]; r.TaskStatus != batchops.TaskSucceeded || !strings.HasPrefix(r.ResultMessage, "skipped: "+outcome.ReasonOwnOutput) {
			t.Errorf("%s: %+v, want Succeeded, skipped as the compressor's own output", own, r)
		}
		if _, ok := rows["uploads/backfill/notes.txt"]; ok {
			t.Error("uploads/backfill/notes.txt has a task; no suffix of the settings matches it")
		}
	})
	t.Run("source untouched", func(t *testing.T) { e.checkSourceUntouched(t) })
}

// backfillImages are n valid images under awkward keys (spaces, unicode,
// plus signs, percent signs), the first backfillEarlier of them under
// uploads/backfill/earlier/. A few small distinct images are enough: each key
// is its own task.
func backfillImages(t *testing.T, magick string, n int) []upload {
	t.Helper()
	images := []struct {
		ext  string
		data []byte
	}{
		{".jpg", makeImage(t, magick, "a.jpg", "-size", "160x120", "plasma:fractal", "-quality", "95")},
		{".png", makeImage(t, magick, "a.png", "logo:", "-resize", "120x")},
		{".gif", makeImage(t, magick, "a.gif", "-size", "64x48", "pattern:checkerboard")},
		{".webp", makeImage(t, magick, "a.webp", "-size", "96x96", "gradient:red-blue")},
		{".JPG", makeImage(t, magick, "b.jpg", "-size", "120x90", "granite:", "-quality", "98")},
	}
	names := []string{"photo", "Ferien 2026", "ünïcödé 写真", "plus+sign", "per%20cent", "(parens) [1]"}
	out := make([]upload, n)
	for i := range n {
		folder := "uploads/backfill/later/" + names[i%len(names)]
		if i < backfillEarlier {
			folder = "uploads/backfill/earlier"
		}
		img := images[i%len(images)]
		out[i] = upload{key: fmt.Sprintf("%s/%03d %s%s", folder, i, names[(i/len(names))%len(names)], img.ext), data: img.data}
	}
	return out
}

// putOwnOutput uploads data with the compressor's output marker, as a user
// copying an output back into the source bucket would.
func putOwnOutput(t *testing.T, e *pipeline, key string, data []byte) {
	t.Helper()
	out, err := e.stack.S3.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(e.stack.SourceBucket), Key: aws.String(key), Body: bytes.NewReader(data),
		Metadata: map[string]string{storage.OutputMarker: "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.etags[key] = unquote(aws.ToString(out.ETag))
	e.mu.Unlock()
}

// runBackfillBinary builds the backfill command as make build does and runs
// it with -local against the stack whose state is in state.
func runBackfillBinary(t *testing.T, root, state string, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "backfill")
	build := exec.Command("go", "build", "-o", bin, "./cmd/backfill")
	build.Dir = filepath.Join(root, "infra")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/backfill: %v\n%s", err, out)
	}
	ctx, cancel := withinDeadline(t, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-local", "-state", state, "-yes", "-wait", "-poll", "200ms"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("backfill %q: %v\n%s", args, err, out)
	}
	return string(out)
}

// outputsOf maps each destination key to its ETag and modification time:
// equal values mean the object was not written again.
func outputsOf(t *testing.T, stack *local.Stack) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]string{}
	p := s3.NewListObjectsV2Paginator(stack.S3, &s3.ListObjectsV2Input{Bucket: aws.String(stack.DestinationBucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list %s: %v", stack.DestinationBucket, err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = unquote(aws.ToString(o.ETag)) + " " + aws.ToTime(o.LastModified).Format(time.RFC3339Nano)
		}
	}
	return out
}

func getObject(t *testing.T, stack *local.Stack, key string) string {
	t.Helper()
	out, err := stack.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(stack.DestinationBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer func() { _ = out.Body.Close() }()
	var b bytes.Buffer
	if _, err := b.ReadFrom(out.Body); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
