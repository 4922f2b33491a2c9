package local

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The part of the S3 Control API (REST, XML) the batch engine serves: what
// the backfill command calls through the AWS SDK's s3control client.
//
//	POST /v20180820/jobs                   CreateJob
//	GET  /v20180820/jobs/{id}              DescribeJob
//	POST /v20180820/jobs/{id}/status       UpdateJobStatus (?requestedJobStatus=)

const s3ControlNamespace = "http://awss3control.amazonaws.com/doc/2018-08-20/"

// createJobRequest is the body of CreateJob, as far as the engine reads it.
type createJobRequest struct {
	ClientRequestToken   string
	ConfirmationRequired bool
	Description          string
	Priority             int
	RoleArn              string
	Operation            struct {
		LambdaInvoke *lambdaInvoke
	}
	Report            jobReport
	Manifest          *manifestSpec
	ManifestGenerator *struct {
		S3JobManifestGenerator struct {
			SourceBucket           string
			EnableManifestOutput   bool
			ManifestOutputLocation *manifestOutput
			Filter                 *generatorFilter
		}
	}
}

type lambdaInvoke struct {
	FunctionArn             string
	InvocationSchemaVersion string
	UserArguments           struct {
		Entries []struct {
			Key   string `xml:"key"`
			Value string `xml:"value"`
		} `xml:"entry"`
	}
}

type jobReport struct {
	Bucket      string `xml:",omitempty"`
	Prefix      string `xml:",omitempty"`
	Format      string `xml:",omitempty"`
	Enabled     bool
	ReportScope string `xml:",omitempty"`
}

type manifestSpec struct {
	Spec struct {
		Format string
		Fields []string `xml:"Fields>member"`
	}
	Location struct {
		ObjectArn string
		ETag      string
	}
}

type manifestOutput struct {
	Bucket         string
	ManifestPrefix string
	ManifestFormat string
}

type generatorFilter struct {
	CreatedAfter, CreatedBefore string
	KeyNameConstraint           *struct {
		MatchAnyPrefix    []string `xml:"MatchAnyPrefix>member"`
		MatchAnySuffix    []string `xml:"MatchAnySuffix>member"`
		MatchAnySubstring []string `xml:"MatchAnySubstring>member"`
	}
	// Filters the engine does not apply; a job naming one is refused.
	ObjectSizeGreaterThanBytes, ObjectSizeLessThanBytes *int64
	MatchAnyStorageClass                                *struct{}
	EligibleForReplication                              *bool
}

func (f *generatorFilter) unsupported() bool {
	bad := f.ObjectSizeGreaterThanBytes != nil || f.ObjectSizeLessThanBytes != nil || f.MatchAnyStorageClass != nil || f.EligibleForReplication != nil
	if c := f.KeyNameConstraint; c != nil && len(c.MatchAnySubstring) > 0 {
		bad = true
	}
	_, errAfter := parseTime(f.CreatedAfter)
	_, errBefore := parseTime(f.CreatedBefore)
	return bad || errAfter != nil || errBefore != nil
}

// matches applies the filter to one listed object; a nil filter takes all.
func (f *generatorFilter) matches(key string, modified time.Time) bool {
	if f == nil {
		return true
	}
	if c := f.KeyNameConstraint; c != nil {
		if len(c.MatchAnyPrefix) > 0 && !slices.ContainsFunc(c.MatchAnyPrefix, func(p string) bool { return strings.HasPrefix(key, p) }) {
			return false
		}
		if len(c.MatchAnySuffix) > 0 && !slices.ContainsFunc(c.MatchAnySuffix, func(s string) bool { return strings.HasSuffix(key, s) }) {
			return false
		}
	}
	after, _ := parseTime(f.CreatedAfter)
	before, _ := parseTime(f.CreatedBefore)
	return (after.IsZero() || modified.After(after)) && (before.IsZero() || modified.Before(before))
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

type jobFailure struct {
	FailureCode   string
	FailureReason string
}

// jobDescriptor is DescribeJob's Job.
type jobDescriptor struct {
	JobId                string
	JobArn               string
	Description          string `xml:",omitempty"`
	Status               string
	ConfirmationRequired bool
	Priority             int
	RoleArn              string
	CreationTime         string
	TerminationDate      string       `xml:",omitempty"`
	StatusUpdateReason   string       `xml:",omitempty"`
	FailureReasons       []jobFailure `xml:"FailureReasons>member,omitempty"`
	ProgressSummary      struct {
		TotalNumberOfTasks     int64
		NumberOfTasksSucceeded int64
		NumberOfTasksFailed    int64
		Timers                 struct{ ElapsedTimeInActiveSeconds int64 }
	}
	Report jobReport
}

func (e *batchEngine) describe(j *batchJob) jobDescriptor {
	j.mu.Lock()
	defer j.mu.Unlock()
	d := jobDescriptor{
		JobId: j.id, JobArn: fmt.Sprintf("arn:aws:s3:%s:%s:job/%s", Region, e.account, j.id),
		Description: j.req.Description, Status: j.status, ConfirmationRequired: j.req.ConfirmationRequired,
		Priority: j.req.Priority, RoleArn: j.req.RoleArn, CreationTime: xmlTime(j.created),
		StatusUpdateReason: j.statusReason, FailureReasons: slices.Clone(j.failures), Report: j.req.Report,
	}
	if !j.terminated.IsZero() {
		d.TerminationDate = xmlTime(j.terminated)
	}
	d.ProgressSummary.TotalNumberOfTasks, d.ProgressSummary.NumberOfTasksSucceeded, d.ProgressSummary.NumberOfTasksFailed = j.total, j.succeeded, j.failed
	if !j.activeSince.IsZero() {
		end := time.Now()
		if !j.terminated.IsZero() {
			end = j.terminated
		}
		d.ProgressSummary.Timers.ElapsedTimeInActiveSeconds = int64(end.Sub(j.activeSince).Seconds())
	}
	return d
}

func xmlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// s3Control serves the engine over HTTP on 127.0.0.1.
type s3Control struct {
	engine    *batchEngine
	accessKey string
	listener  net.Listener
	server    *http.Server
}

func newS3Control(engine *batchEngine, accessKey string) (*s3Control, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("S3 Control listen: %w", err)
	}
	c := &s3Control{engine: engine, accessKey: accessKey, listener: ln}
	c.server = &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := c.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			engine.logf("S3 Control: %v", err)
		}
	}()
	return c, nil
}

// URL is the endpoint the SDK's s3control client is pointed at.
func (c *s3Control) URL() string { return "http://" + c.listener.Addr().String() }

func (c *s3Control) close() { _ = c.server.Close() }

func (c *s3Control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Signatures are not checked (MinIO's credentials protect nothing here
	// either), but a request must come from the SDK with the stack's key and
	// account, as S3 Control would insist.
	if !strings.Contains(r.Header.Get("Authorization"), "Credential="+c.accessKey+"/") {
		c.fail(w, http.StatusForbidden, "AccessDenied", "not signed with the local stack's access key")
		return
	}
	if got := r.Header.Get("x-amz-account-id"); got != c.engine.account {
		c.fail(w, http.StatusForbidden, "AccessDenied", fmt.Sprintf("account %q is not the local stack's %q", got, c.engine.account))
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/v20180820/jobs")
	switch {
	case !ok:
	case path == "" && r.Method == http.MethodPost:
		c.createJob(w, r)
		return
	case strings.HasSuffix(path, "/status") && r.Method == http.MethodPost:
		c.updateJobStatus(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/status"))
		return
	case strings.Count(path, "/") == 1 && r.Method == http.MethodGet:
		c.describeJob(w, strings.TrimPrefix(path, "/"))
		return
	}
	c.fail(w, http.StatusNotImplemented, "NotImplemented", r.Method+" "+r.URL.Path+" is not served by the local stack")
}

// The documents S3 Control answers with; the SDK reads a root's children
// whatever its name, but these are S3 Control's names.
type (
	createJobResult struct {
		XMLName xml.Name `xml:"CreateJobResult"`
		Xmlns   string   `xml:"xmlns,attr"`
		JobId   string
	}
	describeJobResult struct {
		XMLName xml.Name `xml:"DescribeJobResult"`
		Xmlns   string   `xml:"xmlns,attr"`
		Job     jobDescriptor
	}
	updateJobStatusResult struct {
		XMLName            xml.Name `xml:"UpdateJobStatusResult"`
		Xmlns              string   `xml:"xmlns,attr"`
		JobId              string
		Status             string
		StatusUpdateReason string `xml:",omitempty"`
	}
)

func (c *s3Control) createJob(w http.ResponseWriter, r *http.Request) {
	var req createJobRequest
	if err := xml.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		c.fail(w, http.StatusBadRequest, "MalformedXML", err.Error())
		return
	}
	id, err := c.engine.create(req)
	if err != nil {
		c.error(w, err)
		return
	}
	c.reply(w, createJobResult{Xmlns: s3ControlNamespace, JobId: id})
}

func (c *s3Control) describeJob(w http.ResponseWriter, id string) {
	j, ok := c.engine.job(id)
	if !ok {
		c.error(w, errNoSuchJob)
		return
	}
	c.reply(w, describeJobResult{Xmlns: s3ControlNamespace, Job: c.engine.describe(j)})
}

func (c *s3Control) updateJobStatus(w http.ResponseWriter, r *http.Request, id string) {
	q := r.URL.Query()
	status, err := c.engine.setStatus(id, q.Get("requestedJobStatus"), q.Get("statusUpdateReason"))
	if err != nil {
		c.error(w, err)
		return
	}
	c.reply(w, updateJobStatusResult{Xmlns: s3ControlNamespace, JobId: id, Status: status, StatusUpdateReason: q.Get("statusUpdateReason")})
}

func (c *s3Control) reply(w http.ResponseWriter, doc any) {
	body, err := xml.Marshal(doc)
	if err != nil {
		c.fail(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(body)
}

func (c *s3Control) error(w http.ResponseWriter, err error) {
	var bad badRequest
	switch {
	case errors.Is(err, errNoSuchJob):
		c.fail(w, http.StatusNotFound, "NoSuchJob", "the local stack has no such job (jobs end with the stack)")
	case errors.As(err, &bad):
		c.fail(w, http.StatusBadRequest, "InvalidRequest", bad.msg)
	default:
		c.fail(w, http.StatusInternalServerError, "InternalError", err.Error())
	}
}

// fail answers in S3 Control's error document.
func (c *s3Control) fail(w http.ResponseWriter, status int, code, message string) {
	var msg strings.Builder
	_ = xml.EscapeText(&msg, []byte(message))
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		code, msg.String(), requestID())
}
