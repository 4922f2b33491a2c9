package metrics_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/metrics"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// checkEMF applies the Embedded Metric Format specification's rules to one
// line and returns the document.
func checkEMF(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatalf("EMF line is not one JSON object: %v: %s", err, line)
	}
	var meta struct {
		Timestamp         *int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	}
	raw, _ := json.Marshal(doc["_aws"])
	if err := json.Unmarshal(raw, &meta); err != nil || meta.Timestamp == nil || len(meta.CloudWatchMetrics) == 0 {
		t.Fatalf("_aws = %s, want a Timestamp and CloudWatchMetrics", raw)
	}
	if age := time.Since(time.UnixMilli(*meta.Timestamp)); age < 0 || age > time.Minute {
		t.Errorf("Timestamp is %v old, want now (milliseconds since the epoch)", age)
	}
	for _, d := range meta.CloudWatchMetrics {
		if d.Namespace != metrics.Namespace {
			t.Errorf("Namespace %q, want %q", d.Namespace, metrics.Namespace)
		}
		for _, set := range d.Dimensions {
			for _, dim := range set {
				if _, ok := doc[dim].(string); !ok {
					t.Errorf("dimension %q has no string member in the document", dim)
				}
			}
		}
		for _, m := range d.Metrics {
			if _, ok := doc[m.Name].(float64); !ok {
				t.Errorf("metric %q has no numeric member in the document", m.Name)
			}
		}
	}
	return doc
}

func TestEmit(t *testing.T) {
	var out bytes.Buffer
	e := metrics.New(&out, "compressor-prod")
	err := e.Emit([]metrics.Value{
		{Name: metrics.Processed, Unit: metrics.Count, Value: 1},
		{Name: metrics.BytesSaved, Unit: metrics.Bytes, Value: 4096},
		{Name: metrics.Duration, Unit: metrics.Milliseconds, Value: 812},
	}, map[string]any{"decision": outcome.Compressed, "key": "uploads/a b.jpg"})
	if err != nil {
		t.Fatalf("Emit: %v", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Fatalf("Emit wrote %d lines, want 1: %s", n, out.String())
	}
	doc := checkEMF(t, out.Bytes())
	want := map[string]any{
		"FunctionName": "compressor-prod", "Processed": 1.0, "BytesSaved": 4096.0, "Duration": 812.0,
		"decision": string(outcome.Compressed), "key": "uploads/a b.jpg",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("document[%q] = %v, want %v", k, doc[k], v)
		}
	}
	dims := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"]
	if got := fmt.Sprint(dims); got != "[[FunctionName]]" {
		t.Errorf("Dimensions = %s, want [[FunctionName]]", got)
	}
}

func TestEmitConcurrentLinesStayWhole(t *testing.T) {
	var out bytes.Buffer
	e := metrics.New(&out, "f")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if err := e.Emit([]metrics.Value{{Name: metrics.Skipped, Unit: metrics.Count, Value: float64(i)}}, nil); err != nil {
				t.Errorf("Emit: %v", err)
			}
		})
	}
	wg.Wait()
	lines := 0
	for sc := bufio.NewScanner(&out); sc.Scan(); lines++ {
		checkEMF(t, sc.Bytes())
	}
	if lines != 50 {
		t.Errorf("%d lines, want 50", lines)
	}
}
