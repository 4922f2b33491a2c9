package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/infra/batchops"
	"github.com/s3-image-compressor/s3-image-compressor/infra/stackoutputs"
)

// Summary is what a finished job did, from its completion report.
type Summary struct {
	JobID  string
	Status string
	// Tasks is how many tasks the job had, as S3 counts them; every one of
	// them should have a row in the report.
	Tasks int64
	Rows  []batchops.ReportRow
	// Report is the job's report directory.
	Report stackoutputs.Location
}

// Count tallies the rows: succeeded, failed for good, and failed after
// temporary failures S3 stopped retrying.
func (s Summary) Count() (succeeded, permanent, temporary int) {
	for _, r := range s.Rows {
		switch {
		case r.TaskStatus == batchops.TaskSucceeded:
			succeeded++
		case r.ErrorCode == string(outcome.TemporaryFailure):
			temporary++
		default:
			permanent++
		}
	}
	return succeeded, permanent, temporary
}

// Missing is how many tasks have no row in the report.
func (s Summary) Missing() int64 { return max(0, s.Tasks-int64(len(s.Rows))) }

// Line is the summary in one line.
func (s Summary) Line() string {
	ok, permanent, temporary := s.Count()
	return fmt.Sprintf("tasks %d, succeeded %d, permanent failures %d, temporary failures %d, report %s",
		s.Tasks, ok, permanent, temporary, s.Report)
}

// Kinds counts the rows by the kind their result string starts with
// (compressed, kept-original, duplicate, skipped, rejected, failed), "other"
// for S3's own messages.
func (s Summary) Kinds() map[string]int {
	kinds := map[string]int{}
	for _, r := range s.Rows {
		kind := outcome.ResultKind(r.ResultMessage)
		if kind == "" {
			kind = "other"
		}
		kinds[kind]++
	}
	return kinds
}

// print writes the summary: its line, the kinds, and the first failures.
func (s Summary) print(w io.Writer) {
	fmt.Fprintln(w, s.Line())
	kinds := s.Kinds()
	var parts []string
	for kind, n := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", kind, n))
	}
	sort.Strings(parts)
	if len(parts) > 0 {
		fmt.Fprintln(w, "  "+strings.Join(parts, ", "))
	}
	const shown = 10
	n := 0
	for _, r := range s.Rows {
		if r.TaskStatus == batchops.TaskSucceeded {
			continue
		}
		if n++; n <= shown {
			fmt.Fprintf(w, "  %s %s: %s\n", r.ErrorCode, r.Key, r.ResultMessage)
		}
	}
	if n > shown {
		fmt.Fprintf(w, "  ... and %d more failed tasks: see the report\n", n-shown)
	}
	if m := s.Missing(); m > 0 {
		fmt.Fprintf(w, "  %d tasks have no line in the report\n", m)
	}
}

// readReport reads a finished job's completion report.
func readReport(ctx context.Context, d Deployment, job *types.JobDescriptor) (Summary, error) {
	id := aws.ToString(job.JobId)
	dir := stackoutputs.Location{Bucket: d.Outputs.Reports.Bucket, Prefix: batchops.JobDir(d.Outputs.Reports.Prefix, id)}
	s := Summary{JobID: id, Status: string(job.Status), Report: dir}
	if p := job.ProgressSummary; p != nil {
		s.Tasks = aws.ToInt64(p.TotalNumberOfTasks)
	}
	var manifest batchops.ReportManifest
	if err := getJSON(ctx, d, dir.Bucket, dir.Key("manifest.json"), &manifest); err != nil {
		return s, fmt.Errorf("the completion report of job %s: %w", id, err)
	}
	for _, f := range manifest.Results {
		out, err := d.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.Bucket), Key: aws.String(f.Key)})
		if err != nil {
			return s, denied(err, "s3:GetObject", "s3://"+f.Bucket+"/"+f.Key)
		}
		rows, err := batchops.ReadReportRows(out.Body)
		_ = out.Body.Close() // read to the end or failed: nothing more to learn
		if err != nil {
			return s, fmt.Errorf("s3://%s/%s: %w", f.Bucket, f.Key, err)
		}
		s.Rows = append(s.Rows, rows...)
	}
	return s, nil
}

func getJSON(ctx context.Context, d Deployment, bucket, key string, v any) error {
	out, err := d.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return denied(err, "s3:GetObject", "s3://"+bucket+"/"+key)
	}
	defer func() { _ = out.Body.Close() }()
	if err := json.NewDecoder(out.Body).Decode(v); err != nil {
		return fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}
