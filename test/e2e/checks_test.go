package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/failures"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// putAll uploads concurrently, all at once, and remembers each ETag.
func (e *pipeline) putAll(uploads []upload) {
	e.t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(uploads))
	for _, u := range uploads {
		wg.Go(func() {
			out, err := e.stack.S3.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String(e.stack.SourceBucket),
				Key:    aws.String(u.key),
				Body:   bytes.NewReader(u.data),
			})
			if err != nil {
				errs <- fmt.Errorf("upload %s: %w", u.key, err)
				return
			}
			e.mu.Lock()
			e.etags[u.key] = unquote(aws.ToString(out.ETag))
			if e.stack.Settings.Matches(u.key) {
				e.matchingEvents++
			}
			e.mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Fatal(err)
	}
}

type object struct {
	etag     string
	modified time.Time
	meta     map[string]string
}

func (e *pipeline) head(t *testing.T, bucket, key string) object {
	t.Helper()
	out, err := e.stack.S3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head s3://%s/%s: %v", bucket, key, err)
	}
	return object{unquote(aws.ToString(out.ETag)), aws.ToTime(out.LastModified), out.Metadata}
}

type decoded struct {
	format        string
	width, height int
}

// checkOutputs verifies the outputs of a source key's last processed version:
// one per configured output, each stored at its key as an image of the
// announced format and size (within the output's bounds) with provenance
// naming the last uploaded version, or skipped with a reason and absent. It
// returns what the stored ones decode to, by output.
func (e *pipeline) checkOutputs(t *testing.T, key string) []decoded {
	t.Helper()
	// The outputs are the last processed version's; a duplicate or stale
	// event after it is skipped.
	var o outcome.Record
	all := e.outcomes.For(key)
	for _, x := range all {
		if x.Decision.Stored() {
			o = x
		}
	}
	settings := e.stack.Settings
	if o.Decision == "" || len(o.Outputs) != len(settings.Outputs) {
		t.Errorf("%s: outcomes %+v, want one %s or %s with %d outputs", key, all, outcome.Compressed, outcome.KeptOriginal, len(settings.Outputs))
		return nil
	}
	e.mu.Lock()
	wantETag := e.etags[key]
	e.mu.Unlock()
	imgs := make([]decoded, len(o.Outputs))
	for i, out := range o.Outputs {
		spec := settings.Outputs[i]
		if want := settings.OutputKey(key, spec); out.Key != want {
			t.Errorf("%s: output %d at %q, want %q", key, i, out.Key, want)
			continue
		}
		if !out.Decision.Stored() {
			if out.Decision != outcome.Skipped || out.Reason == "" {
				t.Errorf("%s: output %s %s (%q), want it stored or skipped with a reason", key, out.Key, out.Decision, out.Reason)
			}
			if _, err := e.stack.S3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(e.stack.DestinationBucket), Key: aws.String(out.Key)}); err == nil {
				t.Errorf("%s: skipped output %s exists", key, out.Key)
			}
			continue
		}
		got, err := e.stack.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(e.stack.DestinationBucket), Key: aws.String(out.Key)})
		if err != nil {
			t.Errorf("%s: output s3://%s/%s: %v", key, e.stack.DestinationBucket, out.Key, err)
			continue
		}
		data, err := io.ReadAll(got.Body)
		_ = got.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		meta := got.Metadata
		sourceKey, _ := url.QueryUnescape(meta["source-key"])
		if meta["compressor-output"] != "1" || sourceKey != key || meta["source-etag"] != wantETag || meta["settings-hash"] != settings.OutputHash(spec) {
			t.Errorf("%s: output metadata %v, want compressor-output=1, source-key=%q, source-etag=%q (the last upload), settings-hash=%s",
				out.Key, meta, key, wantETag, settings.OutputHash(spec))
		}
		if ct := aws.ToString(got.ContentType); ct != out.Format.ContentType() || int64(len(data)) != out.Bytes {
			t.Errorf("%s: %s of %d bytes, the outcome says %s of %d", out.Key, ct, len(data), out.Format, out.Bytes)
		}
		img, err := e.decode(t, data, out.Key)
		if err != nil {
			t.Errorf("%s: output %s does not decode: %v", key, out.Key, err)
			continue
		}
		if outcome.Format(strings.ToLower(img.format)) != out.Format && !(out.Format == outcome.AVIF && img.format == "HEIC") ||
			img.width != out.Width || img.height != out.Height {
			t.Errorf("%s: output %s decodes as %s %dx%d, the outcome says %s %dx%d", key, out.Key, img.format, img.width, img.height, out.Format, out.Width, out.Height)
		}
		if spec.MaxWidth > 0 && img.width > spec.MaxWidth || spec.MaxHeight > 0 && img.height > spec.MaxHeight {
			t.Errorf("%s: output %s is %dx%d, beyond %s", key, out.Key, img.width, img.height, spec.Name())
		}
		imgs[i] = img
	}
	return imgs
}

// decode reads an image completely with the ImageMagick build the function
// uses (-regard-warnings turns a truncated or damaged file into an error) and
// reports its size as displayed: EXIF orientation applied, and the canvas of
// an animation.
func (e *pipeline) decode(t *testing.T, data []byte, name string) (decoded, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out"+filepath.Ext(name))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.magick, "-regard-warnings", path, "-auto-orient", "-print", "%m %w %h %W %H\n", "null:")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return decoded{}, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var d decoded
	var canvasW, canvasH int
	if _, err := fmt.Sscan(string(out), &d.format, &d.width, &d.height, &canvasW, &canvasH); err != nil {
		return decoded{}, fmt.Errorf("magick -print printed %q: %w", out, err)
	}
	if d.format == "GIF" {
		d.width, d.height = canvasW, canvasH
	}
	return d, nil
}

func (e *pipeline) failureLines(t *testing.T) []failures.Failure {
	t.Helper()
	f, err := os.Open(e.stack.FailuresFile)
	if err != nil {
		t.Fatalf("failures file: %v", err)
	}
	defer func() { _ = f.Close() }()
	var out []failures.Failure
	scan := bufio.NewScanner(f)
	scan.Buffer(nil, 1<<20)
	for scan.Scan() {
		var line failures.Failure
		if err := json.Unmarshal(scan.Bytes(), &line); err != nil {
			t.Errorf("failures file: line %q is not JSON: %v", scan.Text(), err)
			continue
		}
		out = append(out, line)
	}
	if err := scan.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *pipeline) checkRejected(t *testing.T, key string, recorded []failures.Failure) {
	t.Helper()
	o, _ := e.outcomes.Last(key)
	t.Logf("%s: %s (%s)", key, o.Decision, o.Reason)
	if o.Decision != outcome.Rejected || o.Reason == "" {
		t.Errorf("%s: outcome %s (%q), want %s with a reason", key, o.Decision, o.Reason, outcome.Rejected)
	}
	if !slices.ContainsFunc(recorded, func(f failures.Failure) bool {
		return f.Bucket == e.stack.SourceBucket && f.Key == key && f.Decision == outcome.Rejected && f.Reason != ""
	}) {
		t.Errorf("%s: no line in %s with decision %s and a reason", key, e.stack.FailuresFile, outcome.Rejected)
	}
	e.checkNoOutput(t, key)
}

// checkNoOutput verifies that no destination object came from key.
func (e *pipeline) checkNoOutput(t *testing.T, key string) {
	t.Helper()
	for _, dest := range e.destinationObjects(t) {
		if dest.sourceKey == key {
			t.Errorf("%s: has an output %s, want none", key, dest.key)
		}
	}
}

type destObject struct{ key, sourceKey string }

func (e *pipeline) destinationObjects(t *testing.T) []destObject {
	t.Helper()
	var out []destObject
	for key := range e.list(t, e.stack.DestinationBucket) {
		sourceKey, _ := url.QueryUnescape(e.head(t, e.stack.DestinationBucket, key).meta["source-key"])
		out = append(out, destObject{key, sourceKey})
	}
	return out
}

// list returns the keys of a bucket with their ETags.
func (e *pipeline) list(t *testing.T, bucket string) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := s3.NewListObjectsV2Paginator(e.stack.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, obj := range page.Contents {
			out[aws.ToString(obj.Key)] = unquote(aws.ToString(obj.ETag))
		}
	}
	return out
}

// checkNothingLost: every upload a rule matches has an outcome, none failed,
// and no outcome speaks of an object the test did not upload.
func (e *pipeline) checkNothingLost(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	uploaded := maps.Clone(e.deleted)
	for key := range e.etags {
		uploaded[key] = true
	}
	e.mu.Unlock()
	for key := range uploaded {
		all := e.outcomes.For(key)
		if e.stack.Settings.Matches(key) && len(all) == 0 {
			t.Errorf("%s: uploaded, no outcome", key)
		}
		for _, o := range all {
			if o.Decision == outcome.Failed {
				t.Errorf("%s: %s (%s), want every upload handled for good", key, o.Decision, o.Reason)
			}
			if o.Bucket != e.stack.SourceBucket {
				t.Errorf("%s: outcome for bucket %q, want %q", key, o.Bucket, e.stack.SourceBucket)
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for key := range e.deliveries {
		if !uploaded[key] {
			t.Errorf("a delivery for %q, which the test never uploaded", key)
		}
	}
}

// checkSourceUntouched: the source bucket holds exactly what was uploaded,
// with the uploads' ETags: the function never writes there.
func (e *pipeline) checkSourceUntouched(t *testing.T) {
	t.Helper()
	got := e.list(t, e.stack.SourceBucket)
	e.mu.Lock()
	defer e.mu.Unlock()
	for key, etag := range e.etags {
		if got[key] != etag {
			t.Errorf("source %s: ETag %q, want the upload's %q", key, got[key], etag)
		}
	}
	for key := range got {
		if _, ok := e.etags[key]; !ok {
			t.Errorf("source %s: an object the test did not upload", key)
		}
	}
}

// checkNoLoop: the destination has no notification, and after the pipeline
// has been quiet for longer than MinIO's redelivery interval, there was one
// delivery per upload and delete a rule matches (plus the test's re-post) and
// one invocation per delivery: the function's writes and deletes triggered
// nothing.
func (e *pipeline) checkNoLoop(t *testing.T) {
	t.Helper()
	cfg, err := e.stack.S3.GetBucketNotificationConfiguration(t.Context(),
		&s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(e.stack.DestinationBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.QueueConfigurations) + len(cfg.TopicConfigurations) + len(cfg.LambdaFunctionConfigurations); n > 0 {
		t.Errorf("destination bucket has %d notification rules, want none", n)
	}
	time.Sleep(5 * time.Second) // MinIO retries its event store every 3 s
	e.mu.Lock()
	want := int64(e.matchingEvents + e.reposts)
	e.mu.Unlock()
	stats := e.stack.Stats()
	if stats.Deliveries != want {
		t.Errorf("relay deliveries = %d, want %d (one per matching upload, delete and re-post)", stats.Deliveries, want)
	}
	if stats.Invocations != stats.Deliveries || stats.GaveUp != 0 {
		t.Errorf("relay stats %+v: want one invocation per delivery, none given up", stats)
	}
	if total := e.outcomes.Total(); int64(total) != stats.Deliveries {
		t.Errorf("%d outcomes for %d deliveries, want one each", total, stats.Deliveries)
	}
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }
