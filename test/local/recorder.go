package local

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Line is what `make local` prints for one record the function reported:
// its decision, key, size, time and reason, then a line per output with its
// decision, key, format, size in pixels and bytes, and reason.
func Line(o outcome.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s %s", o.Decision, o.Key)
	if o.BytesIn > 0 {
		fmt.Fprintf(&b, "  %s", HumanBytes(o.BytesIn))
	}
	fmt.Fprintf(&b, "  %d ms", o.Millis)
	if o.Reason != "" && (len(o.Outputs) != 1 || o.Outputs[0].Reason != o.Reason) {
		fmt.Fprintf(&b, "  [%s]", o.Reason)
	}
	for _, out := range o.Outputs {
		fmt.Fprintf(&b, "\n    %-13s %s", out.Decision, out.Key)
		if out.Format != "" {
			fmt.Fprintf(&b, "  %s %dx%d", out.Format, out.Width, out.Height)
		}
		if out.Bytes > 0 {
			fmt.Fprintf(&b, "  %s", HumanBytes(out.Bytes))
			if o.BytesIn > 0 {
				fmt.Fprintf(&b, " (%.0f%%)", 100*float64(out.Bytes)/float64(o.BytesIn))
			}
		}
		if out.Reason != "" {
			fmt.Fprintf(&b, "  [%s]", out.Reason)
		}
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

// Recorder collects the records the function reports as they arrive; its
// Add method is an Options.OnOutcome.
type Recorder struct {
	mu      sync.Mutex
	byKey   map[string][]outcome.Record
	total   int
	changed chan struct{} // closed and replaced on every Add
}

func NewRecorder() *Recorder {
	return &Recorder{byKey: map[string][]outcome.Record{}, changed: make(chan struct{})}
}

func (r *Recorder) Add(o outcome.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey[o.Key] = append(r.byKey[o.Key], o)
	r.total++
	close(r.changed)
	r.changed = make(chan struct{})
}

// For returns the outcomes of key in the order they arrived.
func (r *Recorder) For(key string) []outcome.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.byKey[key])
}

// Last returns the latest outcome of key.
func (r *Recorder) Last(key string) (outcome.Record, bool) {
	all := r.For(key)
	if len(all) == 0 {
		return outcome.Record{}, false
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
