package backfill_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	return backfill.Options{Env: "dev", CDKJSON: cdkJSON(t), Clients: f.clients, Out: out, Poll: time.Millisecond, Yes: true, Wait: true}
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

func TestGBSecondsPerImage(t *testing.T) {
	fn := backfill.Function{MemoryMB: 256, Outputs: 1}
	photo, tiny := fn.GBSecondsPerImage(4137722), fn.GBSecondsPerImage(100)
	if tiny >= photo || photo < 0.5 || photo > 1.5 {
		t.Errorf("GB-s per image: tiny %.3f, 12 MP photo %.3f; want tiny < photo, and the photo's 406 ms on a core ≈ 2.8 s at 0.145 vCPU ≈ 0.7 GB-s", tiny, photo)
	}
	// Below one vCPU, more memory buys proportionally more CPU: the CPU part costs the same.
	if more := (backfill.Function{MemoryMB: 512, Outputs: 1}).GBSecondsPerImage(4137722); more < photo || more > 1.2*photo {
		t.Errorf("GB-s at 512 MB = %.3f, at 256 MB = %.3f; want about the same (only the S3 waits cost more)", more, photo)
	}
	if three := (backfill.Function{MemoryMB: 256, Outputs: 3}).GBSecondsPerImage(4137722); three < 2.5*photo {
		t.Errorf("GB-s with 3 outputs = %.3f, with 1 = %.3f; want each output counted", three, photo)
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
