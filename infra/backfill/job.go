package backfill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"
)

// jobSpec is what a job is made of besides its manifest.
type jobSpec struct {
	description string
	// confirm makes S3 prepare the job (read or generate the manifest, count
	// the tasks) and wait in Suspended until UpdateJobStatus says Ready.
	confirm   bool
	manifest  *types.JobManifest
	generator types.JobManifestGenerator
}

// createJob creates the job; the ClientRequestToken makes a retried request
// the same job, not a second one.
func createJob(ctx context.Context, d Deployment, spec jobSpec) (string, error) {
	reports := d.Outputs.Reports
	in := &s3control.CreateJobInput{
		AccountId:            aws.String(d.Account),
		ClientRequestToken:   aws.String(token()),
		ConfirmationRequired: aws.Bool(spec.confirm),
		Description:          aws.String(spec.description),
		Priority:             aws.Int32(10),
		RoleArn:              aws.String(d.Outputs.RoleArn),
		Operation: &types.JobOperation{LambdaInvoke: &types.LambdaInvokeOperation{
			FunctionArn: aws.String(d.Outputs.FunctionArn),
			// 2.0 names the bucket, not its ARN; the function takes both.
			InvocationSchemaVersion: aws.String("2.0"),
		}},
		Report: &types.JobReport{
			Enabled:     true,
			Bucket:      aws.String(d.bucketArn(reports.Bucket)),
			Format:      types.JobReportFormatReportCsv20180820,
			ReportScope: types.JobReportScopeAllTasks,
		},
		Manifest:          spec.manifest,
		ManifestGenerator: spec.generator,
	}
	if reports.Prefix != "" {
		in.Report.Prefix = aws.String(strings.TrimSuffix(reports.Prefix, "/"))
	}
	out, err := d.Control.CreateJob(ctx, in)
	if err != nil {
		return "", denied(err, "s3:CreateJob", "account "+d.Account+" in "+d.Region+" (and iam:PassRole on "+d.Outputs.RoleArn+")")
	}
	return aws.ToString(out.JobId), nil
}

func token() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
	return hex.EncodeToString(b[:])
}

func describe(ctx context.Context, d Deployment, id string) (*types.JobDescriptor, error) {
	out, err := d.Control.DescribeJob(ctx, &s3control.DescribeJobInput{AccountId: aws.String(d.Account), JobId: aws.String(id)})
	if err != nil {
		return nil, denied(err, "s3:DescribeJob", "job "+id)
	}
	return out.Job, nil
}

func setStatus(ctx context.Context, d Deployment, id string, status types.RequestedJobStatus, why string) error {
	_, err := d.Control.UpdateJobStatus(ctx, &s3control.UpdateJobStatusInput{
		AccountId: aws.String(d.Account), JobId: aws.String(id), RequestedJobStatus: status, StatusUpdateReason: aws.String(why),
	})
	return denied(err, "s3:UpdateJobStatus", "job "+id)
}

var terminal = []types.JobStatus{types.JobStatusComplete, types.JobStatusFailed, types.JobStatusCancelled}

// prepared waits until S3 has read the manifest of a job created with
// confirm: it is then Suspended, with its task count known.
func prepared(ctx context.Context, d Deployment, id string, poll time.Duration) (*types.JobDescriptor, error) {
	for {
		job, err := describe(ctx, d, id)
		if err != nil {
			return nil, err
		}
		switch {
		case job.Status == types.JobStatusSuspended:
			return job, nil
		case slices.Contains(terminal, job.Status):
			return nil, fmt.Errorf("job %s is %s before it started%s", id, job.Status, failureReasons(job))
		}
		if err := sleep(ctx, poll); err != nil {
			return nil, err
		}
	}
}

// wait follows the job until it ends, drawing its progress on w.
func wait(ctx context.Context, d Deployment, id string, poll time.Duration, w io.Writer, redraw bool) (*types.JobDescriptor, error) {
	bar := progress{w: w, redraw: redraw}
	for {
		job, err := describe(ctx, d, id)
		if err != nil {
			return nil, err
		}
		bar.update(job)
		if slices.Contains(terminal, job.Status) {
			bar.done()
			return job, nil
		}
		if err := sleep(ctx, poll); err != nil {
			bar.done()
			return nil, fmt.Errorf("stopped waiting for job %s, which goes on (-wait again, or aws s3control describe-job --account-id %s --job-id %s --region %s): %w",
				id, d.Account, id, d.Region, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func failureReasons(job *types.JobDescriptor) string {
	var reasons []string
	for _, f := range job.FailureReasons {
		reasons = append(reasons, aws.ToString(f.FailureCode)+": "+aws.ToString(f.FailureReason))
	}
	if job.StatusUpdateReason != nil {
		reasons = append(reasons, aws.ToString(job.StatusUpdateReason))
	}
	if len(reasons) == 0 {
		return ""
	}
	return ": " + strings.Join(reasons, "; ")
}

// progress draws a job's progress: a bar on a terminal, redrawn in place, or
// a line every few seconds elsewhere (logs, the demo).
type progress struct {
	w              io.Writer
	redraw         bool
	printed        time.Time
	line, lastLine string
	activeSeen     time.Time // when the job was first seen Active
}

func (p *progress) update(job *types.JobDescriptor) {
	var total, ok, failed int64
	var active time.Duration
	if s := job.ProgressSummary; s != nil {
		total, ok, failed = aws.ToInt64(s.TotalNumberOfTasks), aws.ToInt64(s.NumberOfTasksSucceeded), aws.ToInt64(s.NumberOfTasksFailed)
		if s.Timers != nil {
			active = time.Duration(aws.ToInt64(s.Timers.ElapsedTimeInActiveSeconds)) * time.Second
		}
	}
	now := time.Now()
	if p.activeSeen.IsZero() && (job.Status == types.JobStatusActive || ok+failed > 0) {
		p.activeSeen = now
	}
	// S3 counts the time active in whole seconds; a short job needs the clock here.
	if seen := now.Sub(p.activeSeen); !p.activeSeen.IsZero() && seen > active {
		active = seen
	}
	p.line = progressLine(string(job.Status), total, ok, failed, active, slices.Contains(terminal, job.Status))
	if p.redraw {
		fmt.Fprintf(p.w, "\r\033[K%s", p.line)
		return
	}
	if now.Sub(p.printed) >= 5*time.Second {
		p.print()
	}
}

func (p *progress) print() {
	fmt.Fprintln(p.w, p.line)
	p.printed, p.lastLine = time.Now(), p.line
}

func (p *progress) done() {
	switch {
	case p.redraw:
		fmt.Fprintln(p.w)
	case p.line != p.lastLine:
		p.print()
	}
}

const barWidth = 30

// progressLine is one drawing of the bar: status, bar, done of total,
// succeeded, failed, tasks per second over the time active, and the time
// left at that rate (or taken, once the job has ended).
func progressLine(status string, total, ok, failed int64, active time.Duration, ended bool) string {
	done := ok + failed
	filled := 0
	if total > 0 {
		filled = int(barWidth * min(done, total) / total)
	}
	rate := 0.0
	if active > 0 {
		rate = float64(done) / active.Seconds()
	}
	when := "? left"
	switch {
	case ended:
		when = "in " + active.Round(time.Second).String()
	case rate > 0 && total >= done:
		when = time.Duration(float64(total-done)/rate*float64(time.Second)).Round(time.Second).String() + " left"
	}
	return fmt.Sprintf("%-10s [%s%s] %d/%d  succeeded %d  failed %d  %.1f tasks/s  %s",
		status, strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), done, total, ok, failed, rate, when)
}
