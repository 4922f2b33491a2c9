package local

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/infra/batchops"
)

// batchEngine plays S3 Batch Operations for the local stack, which MinIO
// lacks, with the contract of the real one as the function and the backfill
// command see it: a job's manifest is a CSV in S3 or a listing of the source
// bucket (S3's generated manifest); each task is one invocation of the
// function with a Batch Operations event; tasks run on the local function
// processes, as many at a time as there are; a TemporaryFailure is retried;
// a completion report in S3's CSV format lands in the report location.
// Jobs live in memory: stopping the stack stops them, as a cancelled job.
type batchEngine struct {
	s3          *s3.Client
	invoke      func(ctx context.Context, payload []byte) ([]byte, error)
	workers     int
	account     string
	functionArn string
	roleArn     string
	retryDelays []time.Duration
	logf        func(format string, args ...any)

	mu     sync.Mutex
	jobs   map[string]*batchJob
	tokens map[string]string // ClientRequestToken -> job id
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// batchRetryDelays are the waits before each retry of a task that answered
// TemporaryFailure or whose invocation failed; S3 does not publish its own.
var batchRetryDelays = []time.Duration{500 * time.Millisecond, time.Second}

// S3 fails a job whose tasks fail more often than not, once this many ran.
const failureThresholdTasks = 1000

// batchJob is one job and its progress.
type batchJob struct {
	id      string
	req     createJobRequest
	created time.Time

	// mu guards what follows; changed is closed and replaced on every change.
	mu                       sync.Mutex
	changed                  chan struct{}
	status                   string
	statusReason             string
	failures                 []jobFailure
	total, succeeded, failed int64
	activeSince, terminated  time.Time
	requested                string // Ready or Cancelled, from UpdateJobStatus
	rows                     []batchops.ReportRow
}

// Job statuses, as S3 names them.
const (
	jobNew        = "New"
	jobPreparing  = "Preparing"
	jobSuspended  = "Suspended"
	jobReady      = "Ready"
	jobActive     = "Active"
	jobCancelling = "Cancelling"
	jobCancelled  = "Cancelled"
	jobCompleting = "Completing"
	jobComplete   = "Complete"
	jobFailed     = "Failed"
)

func newBatchEngine(client *s3.Client, invoke func(context.Context, []byte) ([]byte, error), workers int, account, functionArn, roleArn string, logf func(string, ...any)) *batchEngine {
	ctx, stop := context.WithCancel(context.Background())
	return &batchEngine{
		s3: client, invoke: invoke, workers: workers, account: account, functionArn: functionArn, roleArn: roleArn,
		retryDelays: batchRetryDelays, logf: logf,
		jobs: map[string]*batchJob{}, tokens: map[string]string{}, ctx: ctx, stop: stop,
	}
}

// close stops every job and waits for its goroutines.
func (e *batchEngine) close() {
	e.stop()
	e.wg.Wait()
}

// create checks a CreateJob request as S3 does before it answers, and starts
// the job. The same ClientRequestToken gives the same job.
func (e *batchEngine) create(req createJobRequest) (string, error) {
	if err := e.validate(req); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if id, ok := e.tokens[req.ClientRequestToken]; ok && req.ClientRequestToken != "" {
		return id, nil
	}
	digits := requestID() // 32 hex digits, grouped like S3's job ids
	j := &batchJob{id: digits[:8] + "-" + digits[8:12] + "-" + digits[12:16] + "-" + digits[16:20] + "-" + digits[20:], req: req, created: time.Now().UTC(),
		changed: make(chan struct{}), status: jobNew}
	e.jobs[j.id] = j
	e.tokens[req.ClientRequestToken] = j.id
	e.wg.Go(func() { e.run(j) })
	return j.id, nil
}

// badRequest is an error S3 Control answers with 400.
type badRequest struct{ msg string }

func (b badRequest) Error() string { return b.msg }

func (e *batchEngine) validate(req createJobRequest) error {
	switch {
	case req.RoleArn != e.roleArn:
		return badRequest{fmt.Sprintf("role %q is not the local stack's Batch Operations role %q", req.RoleArn, e.roleArn)}
	case req.Operation.LambdaInvoke == nil:
		return badRequest{"the local stack runs only LambdaInvoke jobs"}
	case req.Operation.LambdaInvoke.FunctionArn != e.functionArn:
		return badRequest{fmt.Sprintf("function %q is not the local stack's %q", req.Operation.LambdaInvoke.FunctionArn, e.functionArn)}
	case !slices.Contains([]string{"", "1.0", "2.0"}, req.Operation.LambdaInvoke.InvocationSchemaVersion):
		return badRequest{fmt.Sprintf("InvocationSchemaVersion %q: want 1.0 or 2.0", req.Operation.LambdaInvoke.InvocationSchemaVersion)}
	case (req.Manifest == nil) == (req.ManifestGenerator == nil):
		return badRequest{"a job takes a Manifest or a ManifestGenerator"}
	case req.Report.Enabled && req.Report.Format != batchops.ReportFormat:
		return badRequest{fmt.Sprintf("report format %q: want %s", req.Report.Format, batchops.ReportFormat)}
	}
	if g := req.ManifestGenerator; g != nil {
		f := g.S3JobManifestGenerator.Filter
		if f != nil && f.unsupported() {
			return badRequest{"the local stack's manifest generator filters by key prefix, suffix and creation time only"}
		}
	}
	return nil
}

func (e *batchEngine) job(id string) (*batchJob, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[id]
	return j, ok
}

// setStatus is UpdateJobStatus: Ready confirms a Suspended job, Cancelled
// stops a job that has not ended.
func (e *batchEngine) setStatus(id, requested, reason string) (string, error) {
	j, ok := e.job(id)
	if !ok {
		return "", errNoSuchJob
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case requested == jobReady && j.status != jobSuspended:
		return "", badRequest{fmt.Sprintf("job %s is %s, not awaiting confirmation", id, j.status)}
	case requested == jobCancelled && slices.Contains([]string{jobComplete, jobFailed, jobCancelled}, j.status):
		return "", badRequest{fmt.Sprintf("job %s has ended (%s)", id, j.status)}
	case requested != jobReady && requested != jobCancelled:
		return "", badRequest{fmt.Sprintf("requestedJobStatus %q: want Ready or Cancelled", requested)}
	}
	j.requested, j.statusReason = requested, reason
	j.notify()
	return j.status, nil
}

var errNoSuchJob = errors.New("no such job")

// notify wakes whoever waits for a change; j.mu is held.
func (j *batchJob) notify() {
	close(j.changed)
	j.changed = make(chan struct{})
}

func (j *batchJob) set(status string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.status = status
	if status == jobActive {
		j.activeSince = time.Now()
	}
	if slices.Contains([]string{jobComplete, jobFailed, jobCancelled}, status) {
		j.terminated = time.Now().UTC()
	}
	j.notify()
}

func (j *batchJob) fail(code, reason string) {
	j.mu.Lock()
	j.failures = append(j.failures, jobFailure{FailureCode: code, FailureReason: reason})
	j.mu.Unlock()
	j.set(jobFailed)
}

// awaitConfirmation blocks a Suspended job until it is confirmed (true) or
// cancelled or the engine stops (false).
func (j *batchJob) awaitConfirmation(ctx context.Context) bool {
	for {
		j.mu.Lock()
		requested, changed := j.requested, j.changed
		j.mu.Unlock()
		switch requested {
		case jobReady:
			return true
		case jobCancelled:
			return false
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

func (j *batchJob) cancelRequested() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.requested == jobCancelled
}

// task is one object of a job's manifest.
type task struct {
	id int
	batchops.Object
}

// run takes a job from New to its end.
func (e *batchEngine) run(j *batchJob) {
	ctx := e.ctx
	j.set(jobPreparing)
	objects, err := e.manifest(ctx, j)
	if err != nil {
		j.fail("ManifestError", err.Error())
		return
	}
	j.mu.Lock()
	j.total = int64(len(objects))
	j.mu.Unlock()
	if j.req.ConfirmationRequired {
		j.set(jobSuspended)
		if !j.awaitConfirmation(ctx) {
			j.set(jobCancelled)
			return
		}
		j.set(jobReady)
	}
	j.set(jobActive)

	tasks := make(chan task)
	var wg sync.WaitGroup
	for range e.workers {
		wg.Go(func() {
			for t := range tasks {
				j.record(e.runTask(ctx, j, t))
			}
		})
	}
	var stopped string
	for i, o := range objects {
		if stopped = j.stopReason(ctx); stopped != "" {
			break
		}
		tasks <- task{id: i, Object: o}
	}
	close(tasks)
	wg.Wait()
	if stopped == "" {
		stopped = j.stopReason(ctx)
	}
	switch stopped {
	case jobFailed:
		j.fail("TaskFailureThresholdExceeded", "more than half of the tasks failed")
	case jobCancelled:
		j.set(jobCancelling)
		if err := e.writeReport(j); err != nil {
			e.logf("batch: job %s: the completion report of the cancelled job: %v", j.id, err)
		}
		j.set(jobCancelled)
	case "engine stopped":
		j.set(jobCancelled) // the local stack stops; nothing more gets written
	default:
		j.set(jobCompleting)
		if err := e.writeReport(j); err != nil {
			j.fail("ReportWriteFailed", err.Error())
			return
		}
		j.set(jobComplete)
	}
}

// stopReason says why no further task should start: a cancellation, too many
// failures, the engine stopping; "" to go on.
func (j *batchJob) stopReason(ctx context.Context) string {
	if ctx.Err() != nil {
		return "engine stopped"
	}
	if j.cancelRequested() {
		return jobCancelled
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if done := j.succeeded + j.failed; done >= failureThresholdTasks && 2*j.failed > done {
		return jobFailed
	}
	return ""
}

func (j *batchJob) record(row batchops.ReportRow, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if ok {
		j.succeeded++
	} else {
		j.failed++
	}
	j.rows = append(j.rows, row)
	j.notify()
}

// runTask invokes the function for one object until it answers other than
// TemporaryFailure or the retries are used up, and returns the task's row.
func (e *batchEngine) runTask(ctx context.Context, j *batchJob, t task) (batchops.ReportRow, bool) {
	row := batchops.ReportRow{Bucket: t.Bucket, Key: t.Key, VersionID: t.VersionID, HTTPStatus: 200, TaskStatus: batchops.TaskFailed}
	payload := e.event(j, t)
	for attempt := 0; ; attempt++ {
		code, result, err := e.attempt(ctx, payload)
		switch {
		case err != nil:
			// S3 reports an invocation that failed in the function as
			// "Lambda returned function error" (AWS's report examples).
			code, result = outcome.TemporaryFailure, "Lambda returned function error: "+err.Error()
		case code == outcome.Succeeded:
			row.TaskStatus, row.ResultMessage = batchops.TaskSucceeded, result
			return row, true
		}
		if code != outcome.TemporaryFailure || attempt >= len(e.retryDelays) || ctx.Err() != nil {
			row.ErrorCode, row.ResultMessage = string(code), result
			return row, false
		}
		e.logf("batch: job %s task %d (%s): %s, retrying: %s", j.id, t.id, t.Key, code, result)
		select {
		case <-ctx.Done():
		case <-time.After(e.retryDelays[attempt]):
		}
	}
}

// event is the invocation payload of task t in the job's schema version.
func (e *batchEngine) event(j *batchJob, t task) []byte {
	op := j.req.Operation.LambdaInvoke
	taskID := hex.EncodeToString(fmt.Appendf(nil, "%s/%d", j.id, t.id))
	var version *string
	if t.VersionID != "" {
		version = &t.VersionID
	}
	invocation := requestID()
	var payload any
	if op.InvocationSchemaVersion == "2.0" {
		args := map[string]string{}
		for _, entry := range op.UserArguments.Entries {
			args[entry.Key] = entry.Value
		}
		payload = map[string]any{
			"invocationSchemaVersion": "2.0", "invocationId": invocation,
			"job":   events.S3BatchJobV2{ID: j.id, UserArguments: args},
			"tasks": []map[string]any{{"taskId": taskID, "s3Key": batchops.EncodeKey(t.Key), "s3VersionId": version, "s3Bucket": t.Bucket}},
		}
	} else {
		payload = map[string]any{
			"invocationSchemaVersion": "1.0", "invocationId": invocation,
			"job":   events.S3BatchJob{ID: j.id},
			"tasks": []map[string]any{{"taskId": taskID, "s3Key": batchops.EncodeKey(t.Key), "s3VersionId": version, "s3BucketArn": "arn:aws:s3:::" + t.Bucket}},
		}
	}
	doc, _ := json.Marshal(payload) // maps of strings
	return doc
}

// attempt invokes the function once and reads its result for the one task.
func (e *batchEngine) attempt(ctx context.Context, payload []byte) (outcome.ResultCode, string, error) {
	body, err := e.invoke(ctx, payload)
	if err != nil {
		return "", "", err
	}
	var resp events.S3BatchJobResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return outcome.PermanentFailure, fmt.Sprintf("the function answered %q, not a Batch Operations response", truncate(body, 200)), nil
	}
	if len(resp.Results) != 1 {
		// A response without the task's result: S3 applies treatMissingKeysAs.
		code := outcome.ResultCode(resp.TreatMissingKeysAs)
		if code == "" {
			code = outcome.PermanentFailure
		}
		return code, fmt.Sprintf("the function answered %d results for one task", len(resp.Results)), nil
	}
	r := resp.Results[0]
	code := outcome.ResultCode(r.ResultCode)
	if !slices.Contains([]outcome.ResultCode{outcome.Succeeded, outcome.TemporaryFailure, outcome.PermanentFailure}, code) {
		return outcome.PermanentFailure, fmt.Sprintf("result code %q is none of S3's", r.ResultCode), nil
	}
	return code, r.ResultString, nil
}

// manifest is the list of the job's objects: its CSV, or the listing a
// manifest generator asks for (written out as a manifest when asked to).
func (e *batchEngine) manifest(ctx context.Context, j *batchJob) ([]batchops.Object, error) {
	if m := j.req.Manifest; m != nil {
		return e.readManifest(ctx, m)
	}
	g := j.req.ManifestGenerator.S3JobManifestGenerator
	bucket, _, err := splitS3Arn(g.SourceBucket)
	if err != nil {
		return nil, err
	}
	var prefixes []string
	if f := g.Filter; f != nil && f.KeyNameConstraint != nil {
		prefixes = f.KeyNameConstraint.MatchAnyPrefix
	}
	if len(prefixes) == 0 {
		prefixes = []string{""}
	}
	var objects []batchops.Object
	for _, prefix := range prefixes {
		p := s3.NewListObjectsV2Paginator(e.s3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
			}
			for _, o := range page.Contents {
				if g.Filter.matches(aws.ToString(o.Key), aws.ToTime(o.LastModified)) {
					objects = append(objects, batchops.Object{Bucket: bucket, Key: aws.ToString(o.Key)})
				}
			}
		}
	}
	if out := g.ManifestOutputLocation; g.EnableManifestOutput && out != nil {
		// S3 writes its generated manifest in the inventory report format;
		// this keeps the list as a CSV manifest, which nothing here reads back.
		if err := e.writeGenerated(ctx, j, out, objects); err != nil {
			return nil, err
		}
	}
	return objects, nil
}

func (e *batchEngine) readManifest(ctx context.Context, m *manifestSpec) ([]batchops.Object, error) {
	if m.Spec.Format != batchops.ManifestFormat {
		return nil, fmt.Errorf("manifest format %q: the local stack reads only %s (it has no S3 Inventory)", m.Spec.Format, batchops.ManifestFormat)
	}
	bucket, key, err := splitS3Arn(m.Location.ObjectArn)
	if err != nil {
		return nil, err
	}
	out, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("reading the manifest s3://%s/%s: %w", bucket, key, err)
	}
	defer func() { _ = out.Body.Close() }()
	if etag := strings.Trim(aws.ToString(out.ETag), `"`); m.Location.ETag != "" && etag != strings.Trim(m.Location.ETag, `"`) {
		return nil, fmt.Errorf("the manifest s3://%s/%s has ETag %s, the job names %s", bucket, key, etag, m.Location.ETag)
	}
	return batchops.ReadManifest(out.Body)
}

func (e *batchEngine) writeGenerated(ctx context.Context, j *batchJob, out *manifestOutput, objects []batchops.Object) error {
	bucket, _, err := splitS3Arn(out.Bucket)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	w := batchops.NewManifestWriter(&buf)
	for _, o := range objects {
		if err := w.Add(o.Bucket, o.Key); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	key := batchops.JobDir(dirPrefix(out.ManifestPrefix), j.id) + "manifest.csv"
	_, err = e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(buf.Bytes())})
	if err != nil {
		return fmt.Errorf("writing the generated manifest s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// writeReport writes the job's completion report: one CSV of the succeeded
// tasks and one of the failed, and the manifest.json naming them.
func (e *batchEngine) writeReport(j *batchJob) error {
	r := j.req.Report
	if !r.Enabled {
		return nil
	}
	bucket, _, err := splitS3Arn(r.Bucket)
	if err != nil {
		return err
	}
	j.mu.Lock()
	rows := slices.Clone(j.rows)
	j.mu.Unlock()
	// Written after the engine may have stopped: a report is what a user
	// reads to know what was done.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := batchops.JobDir(dirPrefix(r.Prefix), j.id)
	manifest := batchops.ReportManifest{Format: batchops.ReportFormat, ReportCreationDate: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), ReportSchema: batchops.ReportSchema}
	for _, status := range []string{batchops.TaskSucceeded, batchops.TaskFailed} {
		var part []batchops.ReportRow
		for _, row := range rows {
			if row.TaskStatus == status && (status == batchops.TaskFailed || r.ReportScope != "FailedTasksOnly") {
				part = append(part, row)
			}
		}
		if len(part) == 0 {
			continue
		}
		var buf bytes.Buffer
		if err := batchops.WriteReportRows(&buf, part); err != nil {
			return err
		}
		name := sha1.Sum(buf.Bytes())
		key := dir + "results/" + hex.EncodeToString(name[:]) + ".csv"
		if err := e.put(ctx, bucket, key, buf.Bytes()); err != nil {
			return err
		}
		sum := md5.Sum(buf.Bytes())
		manifest.Results = append(manifest.Results, batchops.ReportFile{TaskExecutionStatus: status, Bucket: bucket, MD5Checksum: hex.EncodeToString(sum[:]), Key: key})
	}
	doc, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	return e.put(ctx, bucket, dir+"manifest.json", doc)
}

func (e *batchEngine) put(ctx context.Context, bucket, key string, body []byte) error {
	_, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		return fmt.Errorf("writing s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// splitS3Arn reads arn:aws:s3:::bucket[/key].
func splitS3Arn(arn string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(arn, "arn:aws:s3:::")
	if !ok || rest == "" {
		return "", "", badRequest{fmt.Sprintf("%q is not an S3 bucket or object ARN", arn)}
	}
	bucket, key, _ = strings.Cut(rest, "/")
	return bucket, key, nil
}

// dirPrefix is a job API prefix ("reports", no slash) as a key prefix.
func dirPrefix(prefix string) string {
	if prefix == "" || strings.HasSuffix(prefix, "/") {
		return prefix
	}
	return prefix + "/"
}
