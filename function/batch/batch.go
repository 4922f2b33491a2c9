// Package batch answers S3 Batch Operations: a backfill job invokes the
// function once per object of its manifest, and each task goes through the
// per-object path an upload takes (filters, idempotency, limits, pipeline,
// provenance, failure recording). Its outcome becomes the task's result code:
// done or nothing to do is Succeeded, bad input PermanentFailure, and what a
// retry may fix (throttling, 5xx, too little time left) TemporaryFailure, so
// Batch Operations invokes the task again.
package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Objects is the per-object path of uploads: the handler.
type Objects interface {
	Handle(ctx context.Context, event events.S3Event) (outcome.Response, error)
}

// Handler answers Batch Operations invocations.
type Handler struct {
	objects Objects
	log     *slog.Logger
}

// New answers tasks through objects.
func New(objects Objects, log *slog.Logger) *Handler {
	return &Handler{objects: objects, log: log}
}

// IsJob reports whether payload is a Batch Operations invocation rather than
// an S3 event: it names its schema version and carries tasks, not Records.
func IsJob(payload []byte) bool {
	var probe struct {
		Version string          `json:"invocationSchemaVersion"`
		Tasks   json.RawMessage `json:"tasks"`
	}
	return json.Unmarshal(payload, &probe) == nil && probe.Version != "" && probe.Tasks != nil
}

// task is one task of either schema: 1.0 names the bucket by ARN, 2.0 by name.
type task struct {
	id, bucket, key, versionID string
}

// Handle answers one invocation; S3 sends one task per invocation, but every
// task gets its result. An invocation of a schema this function does not
// know is an error: its tasks cannot even be read.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (events.S3BatchJobResponse, error) {
	var head struct {
		Version      string `json:"invocationSchemaVersion"`
		InvocationID string `json:"invocationId"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		return events.S3BatchJobResponse{}, fmt.Errorf("not a Batch Operations invocation: %w", err)
	}
	resp := events.S3BatchJobResponse{
		InvocationSchemaVersion: head.Version,
		TreatMissingKeysAs:      string(outcome.PermanentFailure),
		InvocationID:            head.InvocationID,
	}
	jobID, tasks, err := parse(head.Version, payload)
	if err != nil {
		return resp, err
	}
	for _, t := range tasks {
		code, result := h.task(ctx, t)
		h.log.InfoContext(ctx, "batch task", slog.String("jobId", jobID), slog.String("taskId", t.id),
			slog.String("bucket", t.bucket), slog.String("key", t.key), slog.String("versionId", t.versionID),
			slog.String("resultCode", string(code)), slog.String("resultString", result))
		resp.Results = append(resp.Results, events.S3BatchJobResult{TaskID: t.id, ResultCode: string(code), ResultString: result})
	}
	return resp, nil
}

func parse(version string, payload []byte) (jobID string, tasks []task, err error) {
	switch version {
	case "1.0":
		var e events.S3BatchJobEvent
		if err := json.Unmarshal(payload, &e); err != nil {
			return "", nil, fmt.Errorf("reading a Batch Operations invocation of schema 1.0: %w", err)
		}
		for _, t := range e.Tasks {
			// arn:aws:s3:::bucket, or with region and account between the colons.
			bucket := t.S3BucketARN[strings.LastIndex(t.S3BucketARN, ":")+1:]
			tasks = append(tasks, task{id: t.TaskID, bucket: bucket, key: t.S3Key, versionID: t.S3VersionID})
		}
		return e.Job.ID, tasks, nil
	case "2.0":
		var e events.S3BatchJobEventV2
		if err := json.Unmarshal(payload, &e); err != nil {
			return "", nil, fmt.Errorf("reading a Batch Operations invocation of schema 2.0: %w", err)
		}
		for _, t := range e.Tasks {
			tasks = append(tasks, task{id: t.TaskID, bucket: t.S3Bucket, key: t.S3Key, versionID: t.S3VersionID})
		}
		return e.Job.ID, tasks, nil
	}
	return "", nil, fmt.Errorf("invocation schema %q: this function reads Batch Operations invocations of schema 1.0 and 2.0", version)
}

// task runs one object through the upload path: Handle with one record, so
// the task gets what a record gets (the time-left check, the bucket and
// filter checks, Object, Observe) and nothing is written twice. The key
// arrives URL-encoded, as in S3 events. The record carries no ETag, so
// Object makes the outputs of the object's current version whatever version
// the manifest listed: outputs are only ever made from the current version,
// and one overwritten since the manifest was made has its outputs made by
// the newer upload's event or by this very task. The version id stays in
// the task's log line.
func (h *Handler) task(ctx context.Context, t task) (outcome.ResultCode, string) {
	rec := events.S3EventRecord{
		EventName: "ObjectCreated:BatchOperations",
		S3: events.S3Entity{
			Bucket: events.S3Bucket{Name: t.bucket},
			Object: events.S3Object{Key: t.key, VersionID: t.versionID},
		},
	}
	resp, _ := h.objects.Handle(ctx, events.S3Event{Records: []events.S3EventRecord{rec}}) // the error repeats Retry
	if len(resp.Records) != 1 {
		return outcome.TemporaryFailure, fmt.Sprintf("failed: the handler answered %d records for one object", len(resp.Records))
	}
	return outcome.BatchResult(resp.Records[0])
}
