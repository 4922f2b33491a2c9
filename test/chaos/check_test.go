package chaos_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/failures"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
)

// report is what the end state holds.
type report struct {
	uploads, overwritten, deleted, redelivered int
	outputs, failures, stale, lost             int
	problems                                   []string
}

func (r *report) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// check reads the end state from S3 itself and the failure records: every
// source object is byte for byte its last upload (or gone, if deleted); every
// key that was not deleted has exactly one output made from its last version,
// or a recorded failure of that version; no output of an older version is
// left as if it were current, and none of a deleted upload (the stack
// mirrors deletes).
func (e *env) check(ctx context.Context, actions []action) report {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := report{uploads: e.uploads, redelivered: e.redelivered}
	outputs := e.outputsBySource(ctx, &r)
	recorded := e.recordedFailures(&r)
	for _, a := range actions {
		if len(a.versions) > 1 {
			r.overwritten++
		}
		latest, uploaded := e.latest[a.key]
		if !uploaded {
			r.problem("%s: never uploaded", a.key)
			continue
		}
		e.checkSource(ctx, &r, a.key, latest)
		outs := outputs[a.key]
		if e.deleted[a.key] {
			r.deleted++
			for _, p := range outs {
				r.stale++
				r.problem("%s: deleted after its upload, but an output of its version %s is still there", a.key, p.SourceETag)
			}
			continue
		}
		current := 0
		for _, p := range outs {
			if p.SourceETag == latest.etag {
				current++
				continue
			}
			r.stale++
			r.problem("%s: an output of the older version %s claims to be current; the last upload is %s", a.key, p.SourceETag, latest.etag)
		}
		_, failed := recorded[a.key+"\x00"+latest.etag]
		switch {
		case current == 1:
			r.outputs++
		case current > 1:
			r.problem("%s: %d outputs of version %s, want one", a.key, current, latest.etag)
		case failed:
			r.failures++
		default:
			r.lost++
			r.problem("%s: version %s has neither an output nor a recorded failure; outcomes: %+v", a.key, latest.etag, e.outcomes.For(a.key))
		}
	}
	return r
}

// checkSource compares the source object with what was uploaded last.
func (e *env) checkSource(ctx context.Context, r *report, key string, latest version) {
	_, data, err := storage.NewSource(e.stack.S3, e.stack.SourceBucket).Get(ctx, key, "", 1<<30)
	switch {
	case e.deleted[key] && err == nil:
		r.problem("%s: still in the source bucket after it was deleted", key)
	case e.deleted[key] && !errors.Is(err, storage.ErrNotFound):
		r.problem("source %s: %v", key, err)
	case e.deleted[key]:
	case err != nil:
		r.problem("source %s: %v", key, err)
	case !bytes.Equal(data, latest.data):
		r.problem("source %s: %d bytes differ from the %d uploaded", key, len(data), len(latest.data))
	}
}

// outputsBySource lists the destination bucket and reads each object's
// provenance, by source key.
func (e *env) outputsBySource(ctx context.Context, r *report) map[string][]storage.Provenance {
	dest := storage.NewDestination(e.stack.S3, e.stack.DestinationBucket)
	bySource := map[string][]storage.Provenance{}
	pages := s3.NewListObjectsV2Paginator(e.stack.S3, &s3.ListObjectsV2Input{Bucket: aws.String(e.stack.DestinationBucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			r.problem("list the destination: %v", err)
			return bySource
		}
		for _, obj := range page.Contents {
			cur, err := dest.Current(ctx, aws.ToString(obj.Key))
			switch {
			case err != nil:
				r.problem("destination %s: %v", aws.ToString(obj.Key), err)
			case !cur.Ours:
				r.problem("destination %s: no provenance: the compressor did not write it", aws.ToString(obj.Key))
			default:
				bySource[cur.Provenance.SourceKey] = append(bySource[cur.Provenance.SourceKey], cur.Provenance)
			}
		}
	}
	return bySource
}

// recordedFailures reads the failures file: the function's permanent
// failures and the relay's records of events it gave up on, by key and ETag.
func (e *env) recordedFailures(r *report) map[string]string {
	recorded := map[string]string{}
	f, err := os.Open(e.stack.FailuresFile)
	if os.IsNotExist(err) {
		return recorded
	}
	if err != nil {
		r.problem("failures file: %v", err)
		return recorded
	}
	defer func() { _ = f.Close() }()
	scan := bufio.NewScanner(f)
	scan.Buffer(nil, 4<<20)
	for scan.Scan() {
		var line struct {
			failures.Failure
			RequestPayload  *events.S3Event `json:"requestPayload"`
			ResponsePayload struct {
				Message string `json:"errorMessage"`
			} `json:"responsePayload"`
		}
		if err := json.Unmarshal(scan.Bytes(), &line); err != nil {
			r.problem("failures file: line %q: %v", scan.Text(), err)
			continue
		}
		if line.RequestPayload == nil {
			recorded[line.Key+"\x00"+line.ETag] = line.Reason
			continue
		}
		for _, rec := range line.RequestPayload.Records {
			key, err := url.QueryUnescape(rec.S3.Object.Key)
			if err != nil {
				continue
			}
			recorded[key+"\x00"+strings.Trim(rec.S3.Object.ETag, `"`)] = line.ResponsePayload.Message
		}
	}
	if err := scan.Err(); err != nil {
		r.problem("failures file: %v", err)
	}
	return recorded
}
