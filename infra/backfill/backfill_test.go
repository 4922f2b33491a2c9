package backfill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"
	"github.com/aws/smithy-go"

	"github.com/s3-image-compressor/s3-image-compressor/infra/backfill"
	"github.com/s3-image-compressor/s3-image-compressor/infra/batchops"
	"github.com/s3-image-compressor/s3-image-compressor/infra/stackoutputs"
)

// account is where the fake stack is deployed.
const account = "111111111111"

var outputs = stackoutputs.Backfill{
	SourceBucket: "src", DestinationBucket: "dst",
	FunctionArn: "arn:aws:lambda:eu-west-1:" + account + ":function:compressor",
	RoleArn:     "arn:aws:iam::" + account + ":role/batch",
	Manifests:   stackoutputs.Location{Bucket: "reports", Prefix: "manifests/"},
	Reports:     stackoutputs.Location{Bucket: "reports", Prefix: "reports/"},
}

// fakeAWS plays CloudFormation, S3 and S3 Control: one stack, objects in
// memory, and jobs that finish as soon as they are looked at.
type fakeAWS struct {
	stack     *cfntypes.Stack // nil: not deployed
	objects   map[string][]byte
	modified  map[string]time.Time
	denied    map[string]error // by operation name
	jobs      []*s3control.CreateJobInput
	status    []types.RequestedJobStatus
	tasks     int64
	lostRows  int64 // tasks the report leaves out
	jobStatus types.JobStatus
}

func newFake() *fakeAWS {
	f := &fakeAWS{objects: map[string][]byte{}, modified: map[string]time.Time{}, denied: map[string]error{}}
	var outs []cfntypes.Output
	for k, v := range outputs.Outputs() {
		outs = append(outs, cfntypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	f.stack = &cfntypes.Stack{StackName: aws.String("ImageCompressor-dev"), StackStatus: cfntypes.StackStatusUpdateComplete, Outputs: outs}
	return f
}

func (f *fakeAWS) put(bucket, key string, body []byte, modified time.Time) {
	f.objects[bucket+"/"+key] = body
	f.modified[bucket+"/"+key] = modified
}

func (f *fakeAWS) clients(context.Context, string) (backfill.StacksAPI, backfill.S3API, backfill.ControlAPI, string, error) {
	return f, f, f, "eu-west-1", nil
}

func (f *fakeAWS) check(op string) error { return f.denied[op] }

func (f *fakeAWS) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if err := f.check("DescribeStacks"); err != nil {
		return nil, err
	}
	if f.stack == nil {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + aws.ToString(in.StackName) + " does not exist"}
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{*f.stack}}, nil
}

func (f *fakeAWS) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if err := f.check("ListObjectsV2"); err != nil {
		return nil, err
	}
	out := &s3.ListObjectsV2Output{}
	for k, body := range f.objects {
		bucket, key, _ := strings.Cut(k, "/")
		if bucket == aws.ToString(in.Bucket) && strings.HasPrefix(key, aws.ToString(in.Prefix)) {
			out.Contents = append(out.Contents, s3types.Object{Key: aws.String(key), Size: aws.Int64(int64(len(body))), LastModified: aws.Time(f.modified[k])})
		}
	}
	return out, nil
}

func (f *fakeAWS) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := f.check("PutObject"); err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(in.Body)
	f.put(aws.ToString(in.Bucket), aws.ToString(in.Key), body, time.Now())
	return &s3.PutObjectOutput{ETag: aws.String(`"etag"`)}, nil
}

func (f *fakeAWS) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	body, ok := f.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NoSuchKey", Message: aws.ToString(in.Key)}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(body))}, nil
}

func (f *fakeAWS) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if _, ok := f.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)]; !ok {
		return nil, &smithy.GenericAPIError{Code: "NotFound"}
	}
	return &s3.HeadObjectOutput{ETag: aws.String(`"inventory-etag"`)}, nil
}

func (f *fakeAWS) CreateJob(_ context.Context, in *s3control.CreateJobInput, _ ...func(*s3control.Options)) (*s3control.CreateJobOutput, error) {
	if err := f.check("CreateJob"); err != nil {
		return nil, err
	}
	f.jobs = append(f.jobs, in)
	f.jobStatus = types.JobStatusSuspended
	if !aws.ToBool(in.ConfirmationRequired) {
		f.finish()
	}
	return &s3control.CreateJobOutput{JobId: aws.String("job1")}, nil
}

// finish completes the job: a report with one succeeded row per task.
func (f *fakeAWS) finish() {
	f.jobStatus = types.JobStatusComplete
	var rows []batchops.ReportRow
	for i := range f.tasks - f.lostRows {
		rows = append(rows, batchops.ReportRow{Bucket: "src", Key: fmt.Sprintf("uploads/%d.jpg", i), TaskStatus: batchops.TaskSucceeded, HTTPStatus: 200,
			ResultMessage: "compressed: 10 -> 5 bytes, uploads/x.jpg"})
	}
	var csv bytes.Buffer
	_ = batchops.WriteReportRows(&csv, rows)
	f.put("reports", "reports/job-job1/results/a.csv", csv.Bytes(), time.Now())
	f.put("reports", "reports/job-job1/manifest.json", []byte(`{"Format":"Report_CSV_20180820","Results":[{"TaskExecutionStatus":"succeeded","Bucket":"reports","Key":"reports/job-job1/results/a.csv"}]}`), time.Now())
}

func (f *fakeAWS) DescribeJob(context.Context, *s3control.DescribeJobInput, ...func(*s3control.Options)) (*s3control.DescribeJobOutput, error) {
	return &s3control.DescribeJobOutput{Job: &types.JobDescriptor{
		JobId: aws.String("job1"), Status: f.jobStatus,
		ProgressSummary: &types.JobProgressSummary{TotalNumberOfTasks: aws.Int64(f.tasks), NumberOfTasksSucceeded: aws.Int64(f.tasks), NumberOfTasksFailed: aws.Int64(0)},
	}}, nil
}

func (f *fakeAWS) UpdateJobStatus(_ context.Context, in *s3control.UpdateJobStatusInput, _ ...func(*s3control.Options)) (*s3control.UpdateJobStatusOutput, error) {
	f.status = append(f.status, in.RequestedJobStatus)
	if in.RequestedJobStatus == types.RequestedJobStatusReady {
		f.finish()
	} else {
		f.jobStatus = types.JobStatusCancelled
	}
	return &s3control.UpdateJobStatusOutput{}, nil
}

// cdkJSON writes a cdk.json with environments dev and prod.
func cdkJSON(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cdk.json")
	doc := `{"context":{"environments":{"dev":{"region":"eu-west-1"},"prod":{"region":"eu-west-1","architecture":"x86_64","memorySize":512}}}}`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func options(t *testing.T, f *fakeAWS, out io.Writer) backfill.Options {
	return backfill.Options{Env: "dev", CDKJSON: cdkJSON(t), Clients: f.clients, Out: out, Poll: time.Millisecond, Yes: true, Wait: true,
		Benchmarks: filepath.Join("..", "..", "docs", "benchmarks.md")}
}

func TestRefusals(t *testing.T) {
	accessDenied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:iam::1:user/x is not authorized to perform: iam:PassRole on resource: arn:aws:iam::1:role/batch"}
	for _, tc := range []struct {
		name  string
		setup func(f *fakeAWS, o *backfill.Options)
		want  string
	}{
		{"unknown environment", func(_ *fakeAWS, o *backfill.Options) { o.Env = "staging" }, `unknown environment "staging": cdk.json defines dev, prod`},
		{"no environment", func(_ *fakeAWS, o *backfill.Options) { o.Env = "" }, "no environment"},
		{"no deployed stack", func(f *fakeAWS, _ *backfill.Options) { f.stack = nil }, "no deployed stack ImageCompressor-dev in eu-west-1"},
		{"stack still deploying", func(f *fakeAWS, _ *backfill.Options) { f.stack.StackStatus = cfntypes.StackStatusUpdateInProgress }, "is UPDATE_IN_PROGRESS"},
		{"stack from before backfill", func(f *fakeAWS, _ *backfill.Options) { f.stack.Outputs = f.stack.Outputs[:0] }, "deploy it again"},
		{"prefix outside the source prefix", func(_ *fakeAWS, o *backfill.Options) { o.Prefix = "other/" }, `-prefix "other/" is outside the source prefix "uploads/"`},
		{"dates the wrong way round", func(_ *fakeAWS, o *backfill.Options) {
			o.CreatedAfter, o.CreatedBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		}, "is not before"},
		{"inventory with a prefix", func(_ *fakeAWS, o *backfill.Options) {
			o.Manifest, o.Prefix = backfill.ManifestInventory, "uploads/2024/"
		}, "-prefix and -created-after/-before need"},
		{"inventory not configured", func(_ *fakeAWS, o *backfill.Options) { o.Manifest = backfill.ManifestInventory }, "needs inventory: true in environment dev"},
		{"unknown manifest", func(_ *fakeAWS, o *backfill.Options) { o.Manifest = "athena" }, `-manifest "athena": want one of generated, list, inventory`},
		{"may not describe stacks", func(f *fakeAWS, _ *backfill.Options) {
			f.denied["DescribeStacks"] = &smithy.GenericAPIError{Code: "AccessDenied", Message: "denied"}
		}, "missing permission cloudformation:DescribeStacks on stack ImageCompressor-dev"},
		{"may not list", func(f *fakeAWS, _ *backfill.Options) {
			f.denied["ListObjectsV2"] = &smithy.GenericAPIError{Code: "AccessDenied", Message: "denied"}
		}, "missing permission s3:ListBucket on s3://src (prefix uploads/)"},
		{"may not pass the role", func(f *fakeAWS, _ *backfill.Options) { f.denied["CreateJob"] = accessDenied }, "missing permission iam:PassRole"},
		{"may not write the manifest", func(f *fakeAWS, o *backfill.Options) {
			o.Manifest = backfill.ManifestList
			f.denied["PutObject"] = &smithy.GenericAPIError{Code: "AccessDenied", Message: "denied"}
		}, "missing permission s3:PutObject on s3://reports/manifests/backfill-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.put("src", "uploads/a.jpg", []byte("jpeg"), time.Now())
			o := options(t, f, io.Discard)
			tc.setup(f, &o)
			_, err := backfill.Run(t.Context(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run error = %v, want one containing %q", err, tc.want)
			}
			if len(f.jobs) > 0 && tc.name != "may not pass the role" {
				t.Errorf("a job was created: %+v", f.jobs[0])
			}
		})
	}
}

func TestListedManifest(t *testing.T) {
	f := newFake()
	day := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	f.put("src", "uploads/old.jpg", make([]byte, 100), day.AddDate(0, -1, 0))
	f.put("src", "uploads/new with space.jpg", make([]byte, 300), day.AddDate(0, 1, 0))
	f.put("src", "uploads/new.txt", make([]byte, 999), day.AddDate(0, 1, 0)) // no configured suffix
	f.put("src", "other/new.jpg", make([]byte, 999), day.AddDate(0, 1, 0))   // outside the prefix
	f.tasks = 1
	var out bytes.Buffer
	o := options(t, f, &out)
	o.Manifest, o.CreatedAfter = backfill.ManifestList, day
	s, err := backfill.Run(t.Context(), o)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	t.Log(out.String())
	if len(f.jobs) != 1 {
		t.Fatalf("%d jobs created, want 1", len(f.jobs))
	}
	job := f.jobs[0]
	key := strings.TrimPrefix(aws.ToString(job.Manifest.Location.ObjectArn), "arn:aws:s3:::reports/")
	if got := string(f.objects["reports/"+key]); got != "src,uploads/new+with+space.jpg\n" {
		t.Errorf("manifest %s = %q, want the one matching object, key URL-encoded", key, got)
	}
	if aws.ToBool(job.ConfirmationRequired) || aws.ToString(job.AccountId) != account || aws.ToString(job.RoleArn) != outputs.RoleArn ||
		aws.ToString(job.Operation.LambdaInvoke.FunctionArn) != outputs.FunctionArn ||
		aws.ToString(job.Report.Bucket) != "arn:aws:s3:::reports" || aws.ToString(job.Report.Prefix) != "reports" ||
		job.Report.ReportScope != types.JobReportScopeAllTasks {
		t.Errorf("CreateJob input = %+v, want the stack's account, role, function and report location, all tasks reported", job)
	}
	for _, want := range []string{"objects: 1 (listed)", "bytes:   300 bytes", "Batch Operations job", "0.25", "Lambda compute", "aws.amazon.com/lambda/pricing",
		"tasks 1, succeeded 1, permanent failures 0, temporary failures 0, report s3://reports/reports/job-job1/", "compressed 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if s == nil || s.Missing() != 0 || len(s.Rows) != 1 {
		t.Errorf("summary = %+v, want one row and none missing", s)
	}
}

func TestGeneratedManifestAsksFirst(t *testing.T) {
	for _, tc := range []struct {
		answer string
		want   types.RequestedJobStatus
		err    error
	}{
		{"y\n", types.RequestedJobStatusReady, nil},
		{"\n", types.RequestedJobStatusCancelled, backfill.ErrNotConfirmed},
	} {
		f := newFake()
		f.put("src", "uploads/a.jpg", make([]byte, 1000), time.Now())
		f.tasks = 1
		o := options(t, f, io.Discard)
		o.Yes, o.In = false, strings.NewReader(tc.answer)
		_, err := backfill.Run(t.Context(), o)
		if !errors.Is(err, tc.err) {
			t.Errorf("answer %q: Run error = %v, want %v", tc.answer, err, tc.err)
		}
		if len(f.jobs) != 1 || !aws.ToBool(f.jobs[0].ConfirmationRequired) || f.jobs[0].ManifestGenerator == nil {
			t.Fatalf("answer %q: jobs %+v, want one generated-manifest job awaiting confirmation", tc.answer, f.jobs)
		}
		gen := f.jobs[0].ManifestGenerator.(*types.JobManifestGeneratorMemberS3JobManifestGenerator).Value
		if c := gen.Filter.KeyNameConstraint; c.MatchAnyPrefix[0] != "uploads/" || len(c.MatchAnySuffix) == 0 || aws.ToString(gen.SourceBucket) != "arn:aws:s3:::src" {
			t.Errorf("generator = %+v, want the source bucket filtered by the source prefix and the suffixes", gen)
		}
		if len(f.status) != 1 || f.status[0] != tc.want {
			t.Errorf("answer %q: status updates %v, want [%s]", tc.answer, f.status, tc.want)
		}
	}
}

func TestMissingResultsFail(t *testing.T) {
	f := newFake()
	f.put("src", "uploads/a.jpg", make([]byte, 10), time.Now())
	f.tasks, f.lostRows = 3, 1
	_, err := backfill.Run(t.Context(), options(t, f, io.Discard))
	if err == nil || !strings.Contains(err.Error(), "1 of 3 tasks have no result") {
		t.Errorf("Run with a report shorter than the job = %v, want an error about the task without result", err)
	}
}

// lambdaShaped is a benchmark report's Lambda-shaped latency table, as
// test/bench/report writes it.
const lambdaShaped = `## Latency at 256 MB (Lambda-shaped)

The real bootstrap ...

| size | images | p50 | p95 | slowest | peak RSS |
| --- | --: | --: | --: | --: | --: |
| under 1 MP | 40 | 0.2 s | 0.9 s | 1.1 s | 40 MiB |
| 1–4 MP | 10 | 1.5 s | 2.0 s | 2.2 s | 80 MiB |
| 4–12 MP | 6 | 4.0 s | 6.0 s | 7.0 s | 150 MiB |
| 12–24 MP | 2 | 9.0 s | 9.5 s | 9.9 s | 200 MiB |

## Charts
`

// coldStart is the older report's cold-start table and the target row that
// names the largest photo's size.
const coldStart = `| Peak RSS, largest photo | ≤ 180 MiB | exifpy.jpg (4000x3000, 12.0 MP): compress CLI 211 MiB | pass |

## Cold start

| event | cold starts | first answer median (min–max) | the emulator's INIT REPORT median | warm answer median | bootstrap peak RSS max | decision |
| --- | --: | --: | --: | --: | --: | --: |
| outside-prefix | 1 | 52 ms (52–52) | 49 ms | 1 ms | 22 MiB | skipped |
| tiny-image | 1 | 39 ms (39–39) | 23 ms | 19 ms | 28 MiB | kept-original |
| largest-photo | 1 | 1793 ms (1793–1793) | 25 ms | 1776 ms | 186 MiB | compressed |
`

func TestParseFigures(t *testing.T) {
	mp := func(m float64) float64 { return m * 1e6 * 0.3 } // bytes of an image of m megapixels, as the estimate assumes
	shaped, err := backfill.ParseFigures([]byte(lambdaShaped))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mp, want float64 }{{0.5, 0.2}, {2, 1.5}, {11.9, 4}, {20, 9}, {40, 9}} {
		if got := shaped.Seconds(mp(tc.mp), 256); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Lambda-shaped: %.1f MP at 256 MB = %.2f s, want the class median %.2f s", tc.mp, got, tc.want)
		}
	}
	if got := shaped.Seconds(mp(2), 512); math.Abs(got-0.75) > 1e-9 {
		t.Errorf("Lambda-shaped: 2 MP at 512 MB = %.2f s, want half of 256 MB's 1.5 s (twice the CPU)", got)
	}
	if !strings.Contains(shaped.Source, "latency at 256 MB (Lambda-shaped)") {
		t.Errorf("Source = %q, want it to name the table", shaped.Source)
	}

	warm, err := backfill.ParseFigures([]byte(coldStart))
	if err != nil {
		t.Fatal(err)
	}
	// 12 MP on one core takes 1.776 s; at 256 MB Lambda gives 0.1447 of it.
	if got, want := warm.Seconds(mp(12), 256), 1.776/(256.0/1769); math.Abs(got-want) > 1e-6 {
		t.Errorf("cold start model: 12 MP at 256 MB = %.3f s, want %.3f s", got, want)
	}
	if _, err := backfill.ParseFigures([]byte("# Benchmarks\n\nnothing measured\n")); err == nil {
		t.Error("ParseFigures(a report without the tables) succeeded, want an error")
	}
}

// The repository's own report must keep giving the estimate its figures:
// a change to make bench's tables that the parser misses fails here.
func TestParseFiguresOfTheRepositoryReport(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "benchmarks.md"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := backfill.ParseFigures(doc)
	if err != nil {
		t.Fatalf("docs/benchmarks.md: %v", err)
	}
	if s := f.Seconds(300e3, 256); s <= 0 || s > 60 {
		t.Errorf("a 300 kB image at 256 MB takes %.2f s by %s; want a positive time under a minute", s, f.Source)
	}
}

func TestGBSecondsPerImage(t *testing.T) {
	figures, err := backfill.ParseFigures([]byte(lambdaShaped))
	if err != nil {
		t.Fatal(err)
	}
	fn := backfill.Function{MemoryMB: 256, Outputs: 1, Figures: &figures}
	// 2 MP: 1.5 s plus 5 S3 requests of 25 ms, at 0.25 GB.
	if got := fn.GBSecondsPerImage(2e6 * 0.3); math.Abs(got-(1.5+0.125)*0.25) > 1e-9 {
		t.Errorf("GB-s of a 2 MP image = %.4f, want %.4f", got, (1.5+0.125)*0.25)
	}
	if more := (backfill.Function{MemoryMB: 512, Outputs: 1, Figures: &figures}).GBSecondsPerImage(2e6 * 0.3); math.Abs(more-(0.75+0.125)*0.5) > 1e-9 {
		t.Errorf("GB-s at 512 MB = %.4f, want %.4f: the CPU part costs the same, the S3 waits twice", more, (0.75+0.125)*0.5)
	}
	three := backfill.Function{MemoryMB: 256, Outputs: 3, Figures: &figures}
	if got, want := three.GBSecondsPerImage(2e6*0.3), (3*1.5+0.025*11)*0.25; math.Abs(got-want) > 1e-9 {
		t.Errorf("GB-s with 3 outputs = %.4f, want %.4f (each output rendered, its key and the source HEADed, and PUT)", got, want)
	}
}

func TestLocalStackRefusals(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, backfill.LocalStackFile)
	if _, err := backfill.Run(t.Context(), backfill.Options{LocalStack: missing}); err == nil || !strings.Contains(err.Error(), "no local stack") {
		t.Errorf("Run without the local stack's file = %v, want an error saying there is no local stack", err)
	}
	// A file left by a stack that stopped: its endpoints answer nothing.
	stale := filepath.Join(dir, "stale.json")
	doc := `{"outputs":` + mustJSON(t, outputs.Outputs()) + `,"region":"us-east-1","account":"000000000000",
		"s3Endpoint":"http://127.0.0.1:1","s3ControlEndpoint":"http://127.0.0.1:1","accessKey":"k","secretKey":"s"}`
	if err := os.WriteFile(stale, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backfill.Run(t.Context(), backfill.Options{LocalStack: stale}); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("Run with a stale local stack file = %v, want an error saying the stack does not answer", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
