// Package batchops holds S3 Batch Operations' file formats as S3 reads and
// writes them: a job's CSV manifest, and its completion report (manifest.json
// naming CSV files of one line per task). The backfill command writes
// manifests and reads reports; the local stack, which plays Batch Operations,
// reads manifests and writes reports, with the same code.
package batchops

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// Formats, as CreateJob and the report's manifest.json name them.
const (
	ManifestFormat  = "S3BatchOperations_CSV_20180820"
	InventoryFormat = "S3InventoryReport_CSV_20161130"
	ReportFormat    = "Report_CSV_20180820"
	// ReportSchema is what S3 declares in a report's manifest.json. Its rows
	// hold the HTTP status before the error code, the other way round
	// (AWS's own examples show "failed,200,PermanentFailure,..."); ReportRow
	// reads and writes them as S3 does.
	ReportSchema = "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"
)

// TaskStatus values in a completion report.
const (
	TaskSucceeded = "succeeded"
	TaskFailed    = "failed"
)

// EncodeKey is key as a manifest or report holds it: URL-encoded like a query
// string (S3 decodes "+" as a space), with "/" left readable.
func EncodeKey(key string) string { return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/") }

// DecodeKey undoes EncodeKey, and reads keys S3 wrote itself.
func DecodeKey(s string) (string, error) { return url.QueryUnescape(s) }

// Object is one line of a CSV manifest: an object of the job.
type Object struct {
	Bucket, Key string
	VersionID   string // optional
}

// ManifestWriter writes a CSV manifest (ManifestFormat, fields Bucket, Key).
type ManifestWriter struct{ w *csv.Writer }

// NewManifestWriter writes a manifest to w; Close flushes it.
func NewManifestWriter(w io.Writer) *ManifestWriter { return &ManifestWriter{w: csv.NewWriter(w)} }

// Add appends one object.
func (m *ManifestWriter) Add(bucket, key string) error {
	return m.w.Write([]string{bucket, EncodeKey(key)})
}

// Close flushes what Add buffered.
func (m *ManifestWriter) Close() error {
	m.w.Flush()
	return m.w.Error()
}

// ReadManifest reads a CSV manifest of two (Bucket, Key) or three (and
// VersionId) fields a line, keys URL-encoded. S3 rejects a header line; so
// does this: it would be read as a bucket.
func ReadManifest(r io.Reader) ([]Object, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	var out []Object
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("manifest line %d: %w", line, err)
		}
		if len(rec) < 2 || len(rec) > 3 || rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("manifest line %d: %q: want bucket,key[,versionId]", line, rec)
		}
		key, err := DecodeKey(rec[1])
		if err != nil {
			return nil, fmt.Errorf("manifest line %d: key %q is not URL-encoded: %w", line, rec[1], err)
		}
		o := Object{Bucket: rec[0], Key: key}
		if len(rec) == 3 {
			o.VersionID = rec[2]
		}
		out = append(out, o)
	}
}

// ReportManifest is a completion report's manifest.json.
type ReportManifest struct {
	Format             string       `json:"Format"`
	ReportCreationDate string       `json:"ReportCreationDate"`
	Results            []ReportFile `json:"Results"`
	ReportSchema       string       `json:"ReportSchema"`
}

// ReportFile is one CSV file of a report, all of one TaskExecutionStatus.
type ReportFile struct {
	TaskExecutionStatus string `json:"TaskExecutionStatus"`
	Bucket              string `json:"Bucket"`
	MD5Checksum         string `json:"MD5Checksum"`
	Key                 string `json:"Key"`
}

// JobDir is the key prefix of a job's report under the job's report prefix
// ("" or ending in "/").
func JobDir(prefix, jobID string) string { return prefix + "job-" + jobID + "/" }

// ReportRow is one task of a completion report.
type ReportRow struct {
	Bucket, Key, VersionID string
	TaskStatus             string // TaskSucceeded or TaskFailed
	HTTPStatus             int
	ErrorCode              string // "" for succeeded tasks; for Lambda tasks, the result code
	ResultMessage          string // for Lambda tasks, the function's result string
}

// WriteReportRows writes rows in S3's order of columns.
func WriteReportRows(w io.Writer, rows []ReportRow) error {
	cw := csv.NewWriter(w)
	for _, r := range rows {
		if err := cw.Write([]string{r.Bucket, EncodeKey(r.Key), r.VersionID, r.TaskStatus, strconv.Itoa(r.HTTPStatus), r.ErrorCode, r.ResultMessage}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadReportRows reads the rows of one report CSV.
func ReadReportRows(r io.Reader) ([]ReportRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 7
	var out []ReportRow
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("report line %d: %w", line, err)
		}
		key, err := DecodeKey(rec[1])
		if err != nil {
			key = rec[1] // S3 wrote it; show it as it came
		}
		status, err := strconv.Atoi(rec[4])
		if err != nil {
			return nil, fmt.Errorf("report line %d: HTTP status %q is not a number", line, rec[4])
		}
		out = append(out, ReportRow{
			Bucket: rec[0], Key: key, VersionID: rec[2], TaskStatus: rec[3],
			HTTPStatus: status, ErrorCode: rec[5], ResultMessage: rec[6],
		})
	}
}
