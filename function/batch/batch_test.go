package batch_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/s3-image-compressor/s3-image-compressor/function/batch"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// objects answers each record with the outcome its key asks for, and
// remembers the records it was given.
type objects struct {
	got     []events.S3EventRecord
	answers map[string]outcome.Record
}

var _ batch.Objects = (*objects)(nil)

func (o *objects) Handle(_ context.Context, e events.S3Event) (outcome.Response, error) {
	var resp outcome.Response
	for _, r := range e.Records {
		o.got = append(o.got, r)
		key, _ := url.QueryUnescape(r.S3.Object.Key)
		rec := o.answers[key]
		rec.Bucket, rec.Key = r.S3.Bucket.Name, key
		resp.Records = append(resp.Records, rec)
	}
	return resp, nil
}

func handler(answers map[string]outcome.Record) (*batch.Handler, *objects) {
	o := &objects{answers: answers}
	return batch.New(o, slog.New(slog.NewJSONHandler(io.Discard, nil))), o
}

func TestHandleBothSchemas(t *testing.T) {
	key := "uploads/Ferien 2026/ünï+plus.jpg"
	encoded := url.QueryEscape(key) // as S3 sends keys in tasks
	h, objs := handler(map[string]outcome.Record{key: {Decision: outcome.Compressed, BytesIn: 10, BytesOut: 4,
		Outputs: []outcome.Output{{Key: key, Decision: outcome.Compressed}}}})
	for _, tc := range []struct{ name, event, bucket, version string }{
		{"schema 1.0", `{"invocationSchemaVersion":"1.0","invocationId":"inv1","job":{"id":"job1"},
			"tasks":[{"taskId":"t1","s3Key":"` + encoded + `","s3VersionId":"v1","s3BucketArn":"arn:aws:s3:::photos"}]}`, "photos", "v1"},
		{"schema 1.0, a regional bucket ARN", `{"invocationSchemaVersion":"1.0","invocationId":"inv1","job":{"id":"job1"},
			"tasks":[{"taskId":"t1","s3Key":"` + encoded + `","s3VersionId":null,"s3BucketArn":"arn:aws:s3:us-east-1:0123456788:photos"}]}`, "photos", ""},
		{"schema 2.0", `{"invocationSchemaVersion":"2.0","invocationId":"inv1","job":{"id":"job1","userArguments":{"k":"v"}},
			"tasks":[{"taskId":"t1","s3Key":"` + encoded + `","s3VersionId":null,"s3Bucket":"photos"}]}`, "photos", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs.got = nil
			if !batch.IsJob([]byte(tc.event)) {
				t.Fatal("IsJob = false, want true")
			}
			resp, err := h.Handle(t.Context(), json.RawMessage(tc.event))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs.got) != 1 || objs.got[0].S3.Bucket.Name != tc.bucket || objs.got[0].S3.Object.Key != encoded ||
				objs.got[0].S3.Object.VersionID != tc.version || !strings.HasPrefix(objs.got[0].EventName, "ObjectCreated:") {
				t.Errorf("the upload path got %+v, want one ObjectCreated record of s3://%s/%s (still encoded) version %q", objs.got, tc.bucket, encoded, tc.version)
			}
			want := events.S3BatchJobResult{TaskID: "t1", ResultCode: "Succeeded", ResultString: "compressed: 10 -> 4 bytes, " + key}
			if resp.InvocationID != "inv1" || resp.TreatMissingKeysAs != "PermanentFailure" || len(resp.Results) != 1 || resp.Results[0] != want {
				t.Errorf("response %+v, want invocation inv1 with %+v", resp, want)
			}
		})
	}
}

func TestResultCodes(t *testing.T) {
	h, _ := handler(map[string]outcome.Record{
		"uploads/junk.jpg":  {Decision: outcome.Rejected, Reason: outcome.Because(outcome.ReasonNotImage, "text")},
		"uploads/slow.jpg":  {Decision: outcome.Failed, Retry: true, Reason: "get: SlowDown"},
		"uploads/done.jpg":  {Decision: outcome.Skipped, Reason: outcome.Because(outcome.ReasonDuplicate, "x")},
		"uploads/other.jpg": {Decision: outcome.Failed, Reason: "get: access denied"},
	})
	for key, want := range map[string]string{
		"uploads/junk.jpg": "PermanentFailure", "uploads/slow.jpg": "TemporaryFailure",
		"uploads/done.jpg": "Succeeded", "uploads/other.jpg": "PermanentFailure",
	} {
		resp, err := h.Handle(t.Context(), json.RawMessage(`{"invocationSchemaVersion":"2.0","invocationId":"i","job":{"id":"j"},"tasks":[{"taskId":"t","s3Key":"`+key+`","s3Bucket":"photos"}]}`))
		if err != nil || len(resp.Results) != 1 || resp.Results[0].ResultCode != want {
			t.Errorf("%s: %+v, %v; want result code %s", key, resp, err, want)
		}
	}
}

func TestNotAJob(t *testing.T) {
	for _, payload := range []string{`{"Records":[]}`, `{"Records":[{"eventName":"ObjectCreated:Put"}]}`, `{}`, `[]`} {
		if batch.IsJob([]byte(payload)) {
			t.Errorf("IsJob(%s) = true, want false", payload)
		}
	}
	h, _ := handler(nil)
	if _, err := h.Handle(t.Context(), json.RawMessage(`{"invocationSchemaVersion":"3.0","invocationId":"i","tasks":[]}`)); err == nil || !strings.Contains(err.Error(), `"3.0"`) {
		t.Errorf("Handle(schema 3.0) error = %v, want one naming the schema", err)
	}
}
