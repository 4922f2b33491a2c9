package local

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Outcome is what the function did with one uploaded object: one record of
// the Response its handler returns. This is the JSON contract of
// function/handler, decoded here rather than imported because the handler
// links ImageMagick through cgo and this package must build (and then build
// ImageMagick) on a machine that has none yet.
type Outcome struct {
	Bucket         string `json:"bucket"`
	Key            string `json:"key"`
	ETag           string `json:"etag,omitempty"`
	Decision       string `json:"decision"` // compressed, kept-original, rejected, skipped, failed
	Reason         string `json:"reason,omitempty"`
	DestinationKey string `json:"destinationKey,omitempty"`
	BytesIn        int64  `json:"bytesIn"`
	BytesOut       int64  `json:"bytesOut"`
	Millis         int64  `json:"ms"`
}

// The decisions a caller branches on; the function may add others.
const (
	Compressed   = "compressed"
	KeptOriginal = "kept-original"
	Rejected     = "rejected"
	Skipped      = "skipped"
	// Failed is also what the relay reports when it gave up retrying.
	Failed = "failed"
)

// Ratio is output size over input size, 0 when there was no input.
func (o Outcome) Ratio() float64 {
	if o.BytesIn == 0 {
		return 0
	}
	return float64(o.BytesOut) / float64(o.BytesIn)
}

// String is the line `make local` prints per processed image.
func (o Outcome) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s %s", o.Decision, o.Key)
	if o.BytesIn > 0 || o.BytesOut > 0 {
		fmt.Fprintf(&b, "  %s -> %s", HumanBytes(o.BytesIn), HumanBytes(o.BytesOut))
		if o.BytesIn > 0 {
			fmt.Fprintf(&b, " (%.0f%%)", 100*o.Ratio())
		}
	}
	fmt.Fprintf(&b, "  %d ms", o.Millis)
	if o.DestinationKey != "" && o.DestinationKey != o.Key {
		fmt.Fprintf(&b, "  => %s", o.DestinationKey)
	}
	if o.Reason != "" {
		fmt.Fprintf(&b, "  [%s]", o.Reason)
	}
	return b.String()
}

// HumanBytes formats a size for people: 812 B, 4.1 kB, 1.2 MB (powers of 1000,
// as S3 consoles show them).
func HumanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// Recorder collects outcomes as they arrive; its Add method is an
// Options.OnOutcome.
type Recorder struct {
	mu      sync.Mutex
	byKey   map[string][]Outcome
	total   int
	changed chan struct{} // closed and replaced on every Add
}

func NewRecorder() *Recorder {
	return &Recorder{byKey: map[string][]Outcome{}, changed: make(chan struct{})}
}

func (r *Recorder) Add(o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey[o.Key] = append(r.byKey[o.Key], o)
	r.total++
	close(r.changed)
	r.changed = make(chan struct{})
}

// For returns the outcomes of key in the order they arrived.
func (r *Recorder) For(key string) []Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.byKey[key])
}

// Last returns the latest outcome of key.
func (r *Recorder) Last(key string) (Outcome, bool) {
	all := r.For(key)
	if len(all) == 0 {
		return Outcome{}, false
	}
	return all[len(all)-1], true
}

// Total counts every outcome recorded.
func (r *Recorder) Total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// Wait blocks until every key has at least n outcomes, or ctx ends; the error
// names the keys still waiting.
func (r *Recorder) Wait(ctx context.Context, n int, keys ...string) error {
	for {
		r.mu.Lock()
		var missing []string
		for _, k := range keys {
			if len(r.byKey[k]) < n {
				missing = append(missing, k)
			}
		}
		changed := r.changed
		r.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			count := len(missing)
			if count > 5 {
				missing = append(missing[:5], "...")
			}
			return fmt.Errorf("%w: %d key(s) without %d outcome(s): %q", ctx.Err(), count, n, missing)
		}
	}
}
