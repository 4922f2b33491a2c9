package e2e_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage/storagetest"
)

// renditionsPhoto is a 1600x1200 JPEG of the burst, larger than the
// outputs' 640 px.
const renditionsPhoto = "uploads/renditions/photo.jpg"

// renditions: one upload, every configured output at its key, in its format
// and size.
func (e *pipeline) renditions(t *testing.T) {
	imgs := e.checkOutputs(t, renditionsPhoto)
	if len(imgs) != len(e.stack.Settings.Outputs) {
		t.Fatalf("%d outputs, want %d", len(imgs), len(e.stack.Settings.Outputs))
	}
	for i, o := range e.stack.Settings.Outputs {
		want := decoded{"JPEG", 1600, 1200}
		if o.Format != config.Original {
			want = decoded{map[string]string{"webp": "WEBP", "avif": "AVIF"}[o.Format], 640, 480}
		}
		if got := imgs[i]; got.width != want.width || got.height != want.height || got.format != want.format && !(want.format == "AVIF" && got.format == "HEIC") {
			t.Errorf("output %s: %+v, want %+v", o.Name(), got, want)
		}
	}
}

// conditionalWrites: MinIO refuses a write based on a stale read, as S3
// does, so that an older version's output cannot replace a newer one's.
// (MinIO ignores If-Match on DELETE, which S3 honours; the handler re-checks
// the source after deleting instead of relying on it alone.)
func (e *pipeline) conditionalWrites(t *testing.T) {
	storagetest.CheckConditionalWrites(t, storage.NewDestination(e.stack.S3, e.stack.DestinationBucket), "conditional/probe.txt")
}

// mirroredDeletes: a delete marker on an upload deletes its outputs; deleting
// an older version of another upload leaves the current version's outputs.
func (e *pipeline) mirroredDeletes(t *testing.T) {
	marked, ok := e.outcomes.Last(renditionsPhoto)
	if !ok {
		t.Fatalf("%s has no outcome", renditionsPhoto)
	}
	var stored []string
	for _, out := range e.outcomes.For(renditionsPhoto)[0].Outputs {
		if out.Decision.Stored() {
			stored = append(stored, out.Key)
		}
	}
	n := len(e.outcomes.For(renditionsPhoto))
	e.deleteSource(t, renditionsPhoto, "")
	e.wait(t, n+1, renditionsPhoto)
	o, _ := e.outcomes.Last(renditionsPhoto)
	if o.Decision != outcome.Deleted || len(o.Outputs) != len(stored) {
		t.Errorf("delete marker on %s (outcome before: %s): outcome %s (%s) with %d outputs, want %s with its %d outputs",
			renditionsPhoto, marked.Decision, o.Decision, o.Reason, len(o.Outputs), outcome.Deleted, len(stored))
	}
	for _, key := range stored {
		if _, err := e.stack.S3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(e.stack.DestinationBucket), Key: aws.String(key)}); err == nil {
			t.Errorf("%s survived the delete marker on its upload", key)
		}
	}

	key := "uploads/renditions/two versions.jpg"
	e.putAll([]upload{{key, makeImage(t, e.magick, "v1.jpg", "-size", "700x500", "gradient:red-blue", "-quality", "95")}})
	e.wait(t, 1, key)
	older := e.versionOf(t, key)
	e.putAll([]upload{{key, makeImage(t, e.magick, "v2.jpg", "-size", "900x600", "plasma:fractal", "-quality", "95")}})
	e.wait(t, 2, key)
	e.deleteSource(t, key, older)
	e.wait(t, 3, key)
	if o, _ := e.outcomes.Last(key); o.Decision != outcome.Skipped || outcome.Word(o.Reason) != outcome.ReasonStillCurrent {
		t.Errorf("deleting the older version of %s: outcome %s (%s), want %s: %s", key, o.Decision, o.Reason, outcome.Skipped, outcome.ReasonStillCurrent)
	}
	if outs := e.checkOutputs(t, key); len(outs) == 0 || outs[0].width != 900 {
		t.Errorf("%s: outputs %+v after deleting its older version, want the current version's (900 px wide)", key, outs)
	}
}

// deleteSource deletes key (a delete marker) or one version of it.
func (e *pipeline) deleteSource(t *testing.T, key, version string) {
	t.Helper()
	in := &s3.DeleteObjectInput{Bucket: aws.String(e.stack.SourceBucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	if _, err := e.stack.S3.DeleteObject(context.Background(), in); err != nil {
		t.Fatalf("delete %s (version %q): %v", key, version, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.matchingEvents++
	if version == "" {
		delete(e.etags, key)
		e.deleted[key] = true
	}
}

// versionOf is the version id of key's current version.
func (e *pipeline) versionOf(t *testing.T, key string) string {
	t.Helper()
	out, err := e.stack.S3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(e.stack.SourceBucket), Key: aws.String(key)})
	if err != nil || aws.ToString(out.VersionId) == "" {
		t.Fatalf("head %s: %v, version %q; want a versioned source bucket", key, err, aws.ToString(out.VersionId))
	}
	return aws.ToString(out.VersionId)
}
