package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage/storagetest"
	"github.com/s3-image-compressor/s3-image-compressor/infra/backfill"
	"github.com/s3-image-compressor/s3-image-compressor/infra/batchops"
	"github.com/s3-image-compressor/s3-image-compressor/infra/stackoutputs"
)

// The batch engine is tested here with an in-process S3 and a function
// that answers as the test says, through the backfill command's code; the
// end-to-end tests run it with MinIO and the real bootstrap.

// fakeFunction answers Batch Operations invocations by key.
type fakeFunction struct {
	answer func(key string, call int) (outcome.ResultCode, string, error)

	mu               sync.Mutex
	calls            map[string]int
	running, maxSeen atomic.Int64
}

func (f *fakeFunction) invoke(_ context.Context, payload []byte) ([]byte, error) {
	if n := f.running.Add(1); n > f.maxSeen.Load() {
		f.maxSeen.Store(n)
	}
	defer f.running.Add(-1)
	time.Sleep(5 * time.Millisecond) // long enough for the workers to overlap
	var event events.S3BatchJobEventV2
	if err := json.Unmarshal(payload, &event); err != nil || event.InvocationSchemaVersion != "2.0" || len(event.Tasks) != 1 {
		return nil, fmt.Errorf("not a schema 2.0 invocation of one task: %s", payload)
	}
	task := event.Tasks[0]
	key, err := url.QueryUnescape(task.S3Key)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.calls[key]++
	call := f.calls[key]
	f.mu.Unlock()
	code, result, err := f.answer(key, call)
	if err != nil {
		return nil, err
	}
	resp := events.S3BatchJobResponse{InvocationSchemaVersion: "2.0", TreatMissingKeysAs: "PermanentFailure", InvocationID: event.InvocationID}
	if code != "" {
		resp.Results = []events.S3BatchJobResult{{TaskID: task.TaskID, ResultCode: string(code), ResultString: result}}
	}
	return json.Marshal(resp)
}

// engineStack is an engine, its S3 Control endpoint and the file the
// backfill command reads, over an in-process S3 holding keys.
func engineStack(t *testing.T, f *fakeFunction, keys ...string) (*batchEngine, string) {
	t.Helper()
	srv := storagetest.Start(t)
	for _, b := range []string{"src", "dst", ReportsBucket} {
		srv.CreateBucket(t, b)
	}
	for _, k := range keys {
		srv.Put(t, "src", k, []byte("image bytes"), nil)
	}
	f.calls = map[string]int{}
	engine := newBatchEngine(srv.Client, f.invoke, 2, Account, FunctionArn, BatchRoleArn, t.Logf)
	engine.retryDelays = []time.Duration{time.Millisecond, time.Millisecond}
	control, err := newS3Control(engine, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		control.close()
		engine.close()
	})
	outputs := stackoutputs.Backfill{
		SourceBucket: "src", DestinationBucket: "dst", FunctionArn: FunctionArn, RoleArn: BatchRoleArn,
		Manifests: stackoutputs.Location{Bucket: ReportsBucket, Prefix: "manifests/"},
		Reports:   stackoutputs.Location{Bucket: ReportsBucket, Prefix: "reports/"},
	}
	doc, err := json.Marshal(backfill.LocalStack{
		Outputs: outputs.Outputs(), Settings: config.Default(), MemoryMB: 256, Architecture: "arm64",
		Region: Region, Account: Account, S3Endpoint: srv.URL, ControlEndpoint: control.URL(), AccessKey: "test", SecretKey: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), backfill.LocalStackFile)
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return engine, file
}

func TestBatchEngineRetriesAndReports(t *testing.T) {
	f := &fakeFunction{answer: func(key string, call int) (outcome.ResultCode, string, error) {
		switch {
		case strings.HasSuffix(key, "flaky.jpg") && call < 3:
			return outcome.TemporaryFailure, "failed: SlowDown", nil
		case strings.HasSuffix(key, "throttled.jpg"):
			return outcome.TemporaryFailure, "failed: SlowDown", nil
		case strings.HasSuffix(key, "crash.jpg"):
			return "", "", &FunctionError{Type: "Runtime.ExitError", Message: "signal: killed"}
		case strings.HasSuffix(key, "silent.jpg"):
			return "", "", nil // no result for the task
		case strings.HasSuffix(key, "junk.jpg"):
			return outcome.PermanentFailure, "rejected: not an image: text", nil
		}
		return outcome.Succeeded, "compressed: 10 -> 4 bytes, " + key, nil
	}}
	keys := []string{"uploads/a.jpg", "uploads/with space/ü.png", "uploads/flaky.jpg", "uploads/throttled.jpg",
		"uploads/crash.jpg", "uploads/silent.jpg", "uploads/junk.jpg", "uploads/b.gif", "other/outside.jpg", "uploads/no-suffix.txt"}
	engine, file := engineStack(t, f, keys...)
	var out strings.Builder
	s, err := backfill.Run(t.Context(), backfill.Options{LocalStack: file, Yes: true, Wait: true, Poll: 10 * time.Millisecond, Out: &out})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	want := map[string]batchops.ReportRow{
		"uploads/a.jpg":            {TaskStatus: "succeeded"},
		"uploads/with space/ü.png": {TaskStatus: "succeeded"},
		"uploads/b.gif":            {TaskStatus: "succeeded"},
		"uploads/flaky.jpg":        {TaskStatus: "succeeded"},
		"uploads/throttled.jpg":    {TaskStatus: "failed", ErrorCode: "TemporaryFailure", ResultMessage: "failed: SlowDown"},
		"uploads/crash.jpg":        {TaskStatus: "failed", ErrorCode: "TemporaryFailure", ResultMessage: "Lambda returned function error: function error Runtime.ExitError: signal: killed"},
		"uploads/silent.jpg":       {TaskStatus: "failed", ErrorCode: "PermanentFailure", ResultMessage: "the function answered 0 results for one task"},
		"uploads/junk.jpg":         {TaskStatus: "failed", ErrorCode: "PermanentFailure", ResultMessage: "rejected: not an image: text"},
	}
	if s.Tasks != int64(len(want)) || len(s.Rows) != len(want) {
		t.Fatalf("%d tasks, %d rows; want %d (keys under the prefix with a configured suffix)\n%s", s.Tasks, len(s.Rows), len(want), out.String())
	}
	for _, r := range s.Rows {
		w, ok := want[r.Key]
		if !ok || r.TaskStatus != w.TaskStatus || r.ErrorCode != w.ErrorCode || (w.ResultMessage != "" && r.ResultMessage != w.ResultMessage) || r.Bucket != "src" || r.HTTPStatus != 200 {
			t.Errorf("row %+v, want %+v", r, w)
		}
	}
	for key, calls := range map[string]int{"uploads/a.jpg": 1, "uploads/flaky.jpg": 3, "uploads/throttled.jpg": 3, "uploads/crash.jpg": 3, "uploads/junk.jpg": 1, "uploads/silent.jpg": 1} {
		if f.calls[key] != calls {
			t.Errorf("%s invoked %d times, want %d (TemporaryFailure and function errors are retried twice)", key, f.calls[key], calls)
		}
	}
	if f.maxSeen.Load() != 2 {
		t.Errorf("at most %d invocations at once, want 2: one per function process", f.maxSeen.Load())
	}
	if !strings.Contains(out.String(), "tasks 8, succeeded 4, permanent failures 2, temporary failures 2, report s3://s3ic-reports/reports/job-") {
		t.Errorf("summary:\n%s\nwant the counts of S3's completion report", out.String())
	}
	if j, _ := engine.job(s.JobID); engine.describe(j).Status != jobComplete {
		t.Errorf("job %s is %s, want %s", s.JobID, engine.describe(j).Status, jobComplete)
	}
}

func TestBatchEngineNotConfirmed(t *testing.T) {
	f := &fakeFunction{answer: func(string, int) (outcome.ResultCode, string, error) { return outcome.Succeeded, "compressed: x", nil }}
	engine, file := engineStack(t, f, "uploads/a.jpg")
	_, err := backfill.Run(t.Context(), backfill.Options{LocalStack: file, In: strings.NewReader("no\n"), Poll: 10 * time.Millisecond})
	if !errors.Is(err, backfill.ErrNotConfirmed) {
		t.Fatalf("Run answered no = %v, want ErrNotConfirmed", err)
	}
	engine.mu.Lock()
	var jobs []*batchJob
	for _, j := range engine.jobs {
		jobs = append(jobs, j)
	}
	engine.mu.Unlock()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs, want the one created to count the tasks", len(jobs))
	}
	deadline := time.Now().Add(5 * time.Second)
	for engine.describe(jobs[0]).Status != jobCancelled && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := engine.describe(jobs[0]).Status; got != jobCancelled || len(f.calls) != 0 {
		t.Errorf("job %s, %d invocations; want it cancelled before any task ran", got, len(f.calls))
	}
}

func TestBatchEngineRefuses(t *testing.T) {
	engine, _ := engineStack(t, &fakeFunction{})
	base := func() createJobRequest {
		var r createJobRequest
		r.RoleArn = BatchRoleArn
		r.Operation.LambdaInvoke = &lambdaInvoke{FunctionArn: FunctionArn, InvocationSchemaVersion: "2.0"}
		r.Manifest = &manifestSpec{}
		r.Manifest.Spec.Format = batchops.ManifestFormat
		r.Manifest.Location.ObjectArn = "arn:aws:s3:::" + ReportsBucket + "/manifests/none.csv"
		return r
	}
	for name, edit := range map[string]func(r *createJobRequest){
		"another role": func(r *createJobRequest) { r.RoleArn = "arn:aws:iam::000000000000:role/other" },
		"another function": func(r *createJobRequest) {
			r.Operation.LambdaInvoke.FunctionArn = "arn:aws:lambda:us-east-1:000000000000:function:other"
		},
		"no manifest": func(r *createJobRequest) { r.Manifest = nil },
		"schema 3.0":  func(r *createJobRequest) { r.Operation.LambdaInvoke.InvocationSchemaVersion = "3.0" },
	} {
		r := base()
		edit(&r)
		var bad badRequest
		if _, err := engine.create(r); !errors.As(err, &bad) {
			t.Errorf("%s: create = %v, want a bad request", name, err)
		}
	}
	// A manifest that cannot be read fails the job, with the reason.
	id, err := engine.create(base())
	if err != nil {
		t.Fatal(err)
	}
	j, _ := engine.job(id)
	deadline := time.Now().Add(5 * time.Second)
	for engine.describe(j).Status != jobFailed && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d := engine.describe(j); d.Status != jobFailed || len(d.FailureReasons) != 1 || !strings.Contains(d.FailureReasons[0].FailureReason, "manifests/none.csv") {
		t.Errorf("job with a missing manifest: %+v, want Failed naming the manifest", d)
	}
}
