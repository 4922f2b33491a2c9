// Package metrics writes CloudWatch metrics in the Embedded Metric Format: one
// JSON line per document on the function's stdout, which CloudWatch Logs turns
// into metrics without an API call (and without a network dependency that
// could fail an invocation).
//
// The names below are a contract with the stack's alarms and dashboard.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Namespace of every metric.
const Namespace = "S3ImageCompressor"

// DimensionFunctionName is the one dimension: alarms watch one function.
const DimensionFunctionName = "FunctionName"

// Metric names. Every record emits each of them once, so a Sum over a period is
// a count of records (of outputs, for KeptOriginal and Deleted) and a missing
// datapoint means no invocation.
const (
	Processed    = "Processed"    // Count: at least one output was written (compressed or kept-original)
	KeptOriginal = "KeptOriginal" // Count: outputs that are the original (stripped), because compressing did not shrink it
	Rejected     = "Rejected"     // Count: bad input (not an image, corrupt, too large, bomb); reported as a failure
	Failed       = "Failed"       // Count: could not finish (S3 errors, deadline, failure sink down); retried or reported
	Skipped      = "Skipped"      // Count: nothing to do (duplicate, overwritten, outside prefix, own output, not ObjectCreated)
	Deleted      = "Deleted"      // Count: outputs deleted with their source (mirrorDeletes)
	BytesIn      = "BytesIn"      // Bytes read from the source (processed records)
	BytesOut     = "BytesOut"     // Bytes written to the destination, all outputs of the record
	BytesSaved   = "BytesSaved"   // Bytes: for each output written, BytesIn less its bytes (what serving it instead of the upload saves)
	Duration     = "Duration"     // Milliseconds a record took, whatever its outcome
)

// Units CloudWatch understands.
const (
	Count        = "Count"
	Bytes        = "Bytes"
	Milliseconds = "Milliseconds"
)

// Value is one metric's value in a document.
type Value struct {
	Name  string
	Unit  string
	Value float64
}

// Emitter writes EMF documents to one writer.
type Emitter struct {
	mu           sync.Mutex
	w            io.Writer
	functionName string
}

// New writes to w (stdout in the Lambda) with the FunctionName dimension.
func New(w io.Writer, functionName string) *Emitter {
	return &Emitter{w: w, functionName: functionName}
}

type metricDefinition struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string             `json:"Namespace"`
	Dimensions [][]string         `json:"Dimensions"`
	Metrics    []metricDefinition `json:"Metrics"`
}

type awsMetadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Emit writes one document with values and properties. Properties are log
// fields, not metrics: searchable in Logs Insights at no metric cost.
func (e *Emitter) Emit(values []Value, properties map[string]any) error {
	doc := make(map[string]any, len(values)+len(properties)+2)
	for k, v := range properties {
		doc[k] = v
	}
	defs := make([]metricDefinition, 0, len(values))
	for _, v := range values {
		defs = append(defs, metricDefinition{Name: v.Name, Unit: v.Unit})
		doc[v.Name] = v.Value
	}
	doc[DimensionFunctionName] = e.functionName
	doc["_aws"] = awsMetadata{
		Timestamp: time.Now().UnixMilli(),
		CloudWatchMetrics: []directive{{
			Namespace:  Namespace,
			Dimensions: [][]string{{DimensionFunctionName}},
			Metrics:    defs,
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encode metrics: %w", err)
	}
	// One Write per line: concurrent writers must not interleave a document.
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}
