package batchops_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/infra/batchops"
)

func TestManifestRoundTrip(t *testing.T) {
	keys := []string{"uploads/a.jpg", "uploads/with space.jpg", "uploads/plus+sign.png", "uploads/ünïcödé 写真.jpg", "uploads/per%20cent,comma.gif"}
	var buf bytes.Buffer
	w := batchops.NewManifestWriter(&buf)
	for _, k := range keys {
		if err := w.Add("src", k); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if line := strings.Split(buf.String(), "\n")[1]; line != "src,uploads/with+space.jpg" {
		t.Errorf("manifest line %q, want the key URL-encoded as S3 decodes it (src,uploads/with+space.jpg)", line)
	}
	got, err := batchops.ReadManifest(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(keys) {
		t.Fatalf("read %d objects, want %d", len(got), len(keys))
	}
	for i, o := range got {
		if o.Bucket != "src" || o.Key != keys[i] || o.VersionID != "" {
			t.Errorf("line %d = %+v, want src %q", i+1, o, keys[i])
		}
	}
}

func TestReadManifestRejects(t *testing.T) {
	for _, doc := range []string{"src\n", "src,a,v,extra\n", ",a\n", "src,%zz\n"} {
		if _, err := batchops.ReadManifest(strings.NewReader(doc)); err == nil {
			t.Errorf("ReadManifest(%q) succeeded, want an error", doc)
		}
	}
	got, err := batchops.ReadManifest(strings.NewReader("src,a.jpg,3HL4kqtJlcpXroDTDmJ\n"))
	if err != nil || len(got) != 1 || got[0].VersionID != "3HL4kqtJlcpXroDTDmJ" {
		t.Errorf("ReadManifest(with a version) = %+v, %v", got, err)
	}
}

// The rows of AWS's completion report examples (batch-ops-examples-reports)
// read as S3 means them, and rows written read back the same.
func TestReportRows(t *testing.T) {
	aws := `awsexamplebucket1,image_14975,,failed,200,PermanentFailure,"Lambda returned function error: {""errorMessage"":""Task timed out after 3.00 seconds""}"
awsexamplebucket1,image_17775,,succeeded,200,,"{u'CopySourceVersionId': 'xVR78haVKlRnurYofbTfYr3ufYbktF8h'}"
`
	rows, err := batchops.ReadReportRows(strings.NewReader(aws))
	if err != nil {
		t.Fatal(err)
	}
	want := []batchops.ReportRow{
		{Bucket: "awsexamplebucket1", Key: "image_14975", TaskStatus: "failed", HTTPStatus: 200, ErrorCode: "PermanentFailure",
			ResultMessage: `Lambda returned function error: {"errorMessage":"Task timed out after 3.00 seconds"}`},
		{Bucket: "awsexamplebucket1", Key: "image_17775", TaskStatus: "succeeded", HTTPStatus: 200,
			ResultMessage: "{u'CopySourceVersionId': 'xVR78haVKlRnurYofbTfYr3ufYbktF8h'}"},
	}
	if len(rows) != len(want) {
		t.Fatalf("read %d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d = %+v\nwant %+v", i+1, rows[i], want[i])
		}
	}
	written := []batchops.ReportRow{{Bucket: "src", Key: "uploads/ünï code+plus.jpg", VersionID: "v1", TaskStatus: "succeeded", HTTPStatus: 200,
		ResultMessage: "compressed: 10 -> 4 bytes, uploads/ünï code+plus.jpg"}}
	var buf bytes.Buffer
	if err := batchops.WriteReportRows(&buf, written); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "src,uploads/%C3%BCn%C3%AF+code%2Bplus.jpg,v1,succeeded,200,,") {
		t.Errorf("written row %q: want S3's column order with the key URL-encoded", buf.String())
	}
	back, err := batchops.ReadReportRows(&buf)
	if err != nil || len(back) != 1 || back[0] != written[0] {
		t.Errorf("read back %+v, %v; want %+v", back, err, written[0])
	}
}
