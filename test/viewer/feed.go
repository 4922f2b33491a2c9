package viewer

import (
	"sync"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// Feed carries the records the function reports from the local stack to a Server. Publish never
// blocks and never drops: the stack calls it from the relay's only worker,
// which must go on invoking the function while the viewer looks objects up.
// A Feed exists before the Server because the stack reports outcomes (of
// events MinIO kept from the last run) as soon as it starts, before its S3
// client is there to build a Server with.
type Feed struct {
	mu      sync.Mutex
	pending []outcome.Record
	ready   chan struct{} // holds a token while pending is not empty
}

func NewFeed() *Feed { return &Feed{ready: make(chan struct{}, 1)} }

// Publish is an Options.OnOutcome of the local stack.
func (f *Feed) Publish(o outcome.Record) {
	f.mu.Lock()
	f.pending = append(f.pending, o)
	f.mu.Unlock()
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

// take waits for outcomes and returns all of them in the order published.
func (f *Feed) take(done <-chan struct{}) ([]outcome.Record, bool) {
	select {
	case <-done:
		return nil, false
	case <-f.ready:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	batch := f.pending
	f.pending = nil
	return batch, true
}
