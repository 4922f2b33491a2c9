package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage/storagetest"
)

// bootstrap is the function binary, built once as it is deployed.
var bootstrap string

func TestMain(m *testing.M) { fixture.Main(m, &bootstrap, "-tags", "lambda.norpc") }

// baseEnv isolates the binary from the machine's AWS configuration.
func baseEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
	}
}

func TestRefusesToStart(t *testing.T) {
	good := []string{"SOURCE_BUCKET=photos", "DESTINATION_BUCKET=photos-small", `COMPRESSOR_SETTINGS={"sourcePrefix":"uploads/"}`}
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"destination inside the source", []string{"SOURCE_BUCKET=photos", "DESTINATION_BUCKET=photos",
			`COMPRESSOR_SETTINGS={"sourcePrefix":"uploads/","destinationPrefix":"uploads/small/"}`}, "would trigger the function again"},
		{"same bucket, same prefix", []string{"SOURCE_BUCKET=photos", "DESTINATION_BUCKET=photos"}, "overlapping prefixes"},
		{"nothing configured", nil, "SOURCE_BUCKET is not set"},
		{"bad settings", []string{"SOURCE_BUCKET=a", "DESTINATION_BUCKET=b", `COMPRESSOR_SETTINGS={"jpeg":{"quality":0}}`}, "jpeg.quality 0"},
		{"misspelt setting", []string{"SOURCE_BUCKET=a", "DESTINATION_BUCKET=b", `COMPRESSOR_SETTINGS={"jpg":{}}`}, `unknown field \"jpg\"`},
		{"bad failure queue", append(good, "FAILURE_QUEUE_URL=ftp://example/queue"), "FAILURE_QUEUE_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bootstrap)
			cmd.Env = append(baseEnv(t), tt.env...)
			out, err := cmd.CombinedOutput()
			if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
				t.Fatalf("bootstrap exited with %v, want exit status 1; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), "refusing to start") || !strings.Contains(string(out), tt.want) {
				t.Errorf("output %q, want it to say it refuses to start because %q", out, tt.want)
			}
		})
	}
}

// runtimeAPI is the Lambda Runtime API (the HTTP protocol a provided.al2023
// runtime talks to), served in the test so the real binary can be invoked.
type runtimeAPI struct {
	invocations chan invocation
	results     chan result
}

type invocation struct {
	id    string
	event []byte
}

type result struct {
	id, kind string // kind: "response" or "error"
	body     []byte
}

func (rt *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/2018-06-01/runtime/invocation/next":
		select {
		case inv := <-rt.invocations:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(60*time.Second).UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:compressor-e2e")
			_, _ = w.Write(inv.event)
		case <-r.Context().Done():
		}
	case strings.HasPrefix(p, "/2018-06-01/runtime/invocation/"):
		id, kind, _ := strings.Cut(strings.TrimPrefix(p, "/2018-06-01/runtime/invocation/"), "/")
		body, _ := io.ReadAll(r.Body)
		rt.results <- result{id: id, kind: kind, body: body}
		w.WriteHeader(http.StatusAccepted)
	case p == "/2020-01-01/extension/register": // aws-lambda-go registers one to receive SIGTERM
		w.Header().Set("Lambda-Extension-Identifier", "sigterm")
		_, _ = w.Write([]byte("{}"))
	case p == "/2020-01-01/extension/event/next":
		<-r.Context().Done()
	default:
		http.Error(w, "unexpected "+r.Method+" "+p, http.StatusNotFound)
	}
}

func (rt *runtimeAPI) invoke(t *testing.T, id string, event []byte) result {
	t.Helper()
	rt.invocations <- invocation{id: id, event: event}
	select {
	case res := <-rt.results:
		if res.id != id {
			t.Fatalf("result for %s while waiting for %s", res.id, id)
		}
		return res
	case <-time.After(2 * time.Minute):
		t.Fatalf("no result for invocation %s", id)
	}
	return result{}
}

// syncBuffer collects the process's stdout while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []map[string]any
	for sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes())); sc.Scan(); {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			lines = append(lines, line)
		}
	}
	return lines
}

// minioEvent is the webhook body MinIO posts for an upload.
func minioEvent(bucket, key, etag string, size int) []byte {
	return fmt.Appendf(nil, `{"EventName":"s3:ObjectCreated:Put","Key":"%[1]s/%[2]s","Records":[{"eventVersion":"2.0",
"eventSource":"minio:s3","awsRegion":"","eventTime":"2026-01-01T00:00:00.000Z","eventName":"s3:ObjectCreated:Put",
"userIdentity":{"principalId":"minioadmin"},"requestParameters":{},"responseElements":{},"s3":{"s3SchemaVersion":"1.0",
"configurationId":"Config","bucket":{"name":"%[1]s","ownerIdentity":{"principalId":"minioadmin"},"arn":"arn:aws:s3:::%[1]s"},
"object":{"key":"%[3]s","size":%[5]d,"eTag":"%[4]s","contentType":"image/jpeg","sequencer":"17A0"}}}]}`,
		bucket, key, url.QueryEscape(key), etag, size)
}

// batchEvent is an S3 Batch Operations invocation (schema 2.0) for one key.
func batchEvent(bucket, key string) []byte {
	return fmt.Appendf(nil, `{"invocationSchemaVersion":"2.0","invocationId":"inv","job":{"id":"job","userArguments":{}},
"tasks":[{"taskId":"task","s3Key":"%s","s3VersionId":null,"s3Bucket":"%s"}]}`, url.QueryEscape(key), bucket)
}

func TestServesInvocations(t *testing.T) {
	photo := fixture.FileOr(t, "exifsamples_DSCN0010_gps.jpg", func(tb testing.TB) []byte {
		imagick.Initialize() // the test process itself runs no pipeline
		return fixture.Pattern(tb, "plasma:fractal", 640, 480, "JPEG", fixture.Quality(98))
	})
	s3 := storagetest.Start(t)
	s3.CreateBucket(t, "photos")
	s3.CreateBucket(t, "photos-small")
	etag := s3.Put(t, "photos", "uploads/Ferien 2026/Strand (1).jpg", photo, nil)
	junkETag := s3.Put(t, "photos", "uploads/junk.jpg", []byte("no image here"), nil)

	rt := &runtimeAPI{invocations: make(chan invocation), results: make(chan result)}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := &http.Server{Handler: rt}
	go func() { _ = server.Serve(listener) }() // returns ErrServerClosed at cleanup
	t.Cleanup(func() { _ = server.Close() })

	sink := filepath.Join(t.TempDir(), "failures.jsonl")
	var stdout syncBuffer
	cmd := exec.Command(bootstrap)
	cmd.Env = append(baseEnv(t),
		"AWS_LAMBDA_RUNTIME_API="+listener.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=compressor-e2e", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_LOG_FORMAT=JSON",
		"AWS_ENDPOINT_URL_S3="+s3.URL, "AWS_REQUEST_CHECKSUM_CALCULATION=when_required",
		"SOURCE_BUCKET=photos", "DESTINATION_BUCKET=photos-small", `COMPRESSOR_SETTINGS={"destinationPrefix":"small/"}`,
		"FAILURE_QUEUE_URL=file://"+sink,
	)
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // Lambda ends a function with SIGKILL too
		_ = cmd.Wait()
	})

	want := map[string]outcome.Decision{"req-1": outcome.Compressed, "req-2": outcome.Skipped, "req-3": outcome.Rejected}
	for _, step := range []struct {
		id    string
		event []byte
	}{
		{"req-1", minioEvent("photos", "uploads/Ferien 2026/Strand (1).jpg", etag, len(photo))},
		{"req-2", minioEvent("photos", "uploads/Ferien 2026/Strand (1).jpg", etag, len(photo))},
		{"req-3", minioEvent("photos", "uploads/junk.jpg", junkETag, 13)},
	} {
		res := rt.invoke(t, step.id, step.event)
		var resp outcome.Response
		if err := json.Unmarshal(res.body, &resp); res.kind != "response" || err != nil || len(resp.Records) != 1 || resp.Records[0].Decision != want[step.id] {
			t.Fatalf("invocation %s: %s %s, want a response with one %s record; output:\n%s", step.id, res.kind, res.body, want[step.id], stdout.String())
		}
	}
	// S3 Batch Operations tasks take the same path: the photo is done already.
	wantTasks := map[string]string{"req-4": "Succeeded", "req-5": "PermanentFailure"}
	for _, step := range []struct{ id, key, want string }{
		{"req-4", "uploads/Ferien 2026/Strand (1).jpg", "duplicate: "},
		{"req-5", "uploads/junk.jpg", "rejected: not an image: "},
	} {
		res := rt.invoke(t, step.id, batchEvent("photos", step.key))
		var resp struct {
			Results []struct{ ResultCode, ResultString string }
		}
		if err := json.Unmarshal(res.body, &resp); res.kind != "response" || err != nil || len(resp.Results) != 1 ||
			resp.Results[0].ResultCode != wantTasks[step.id] || !strings.HasPrefix(resp.Results[0].ResultString, step.want) {
			t.Fatalf("batch invocation %s: %s %s, want one %s result starting %q; output:\n%s", step.id, res.kind, res.body, wantTasks[step.id], step.want, stdout.String())
		}
	}
	want["req-4"], want["req-5"] = outcome.Skipped, outcome.Rejected

	if _, ok := s3.Head(t, "photos-small", "small/Ferien 2026/Strand (1).jpg"); !ok {
		t.Errorf("no output at s3://photos-small/small/Ferien 2026/Strand (1).jpg: %v", s3.List(t, "photos-small"))
	}
	if b, err := os.ReadFile(sink); err != nil || !bytes.Contains(b, []byte(`"key":"uploads/junk.jpg"`)) {
		t.Errorf("failure sink %s: %q, %v; want the rejected upload", sink, b, err)
	}

	// The log lines carry the request id; the metrics carry the function name.
	logged, emf := map[string]outcome.Decision{}, 0
	for _, line := range stdout.lines() {
		if id, ok := line["requestId"].(string); ok && line["message"] == "record" {
			decision, _ := line["decision"].(string)
			logged[id] = outcome.Decision(decision)
		}
		if _, ok := line["_aws"]; ok && line["FunctionName"] == "compressor-e2e" {
			emf++
		}
	}
	if !maps.Equal(logged, want) {
		t.Errorf("record log lines by request id %v, want %v; output:\n%s", logged, want, stdout.String())
	}
	if emf != len(want) {
		t.Errorf("%d EMF documents for compressor-e2e, want %d", emf, len(want))
	}
}
