package chaos_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/test/faults"
)

// faultUploads is how many images go through each fault.
const faultUploads = 12

// TestFaults puts one fault at a time between the function processes and
// S3 while a few uploads go through, and checks that each ends as exactly
// its output or a recorded failure.
func TestFaults(t *testing.T) {
	e := startEnv(t, 2)
	mix := images(t, e.magick)
	valid := mix[:len(mix)-3]
	// A fault starts when its case starts and returns what stops it.
	type fault func(ctx context.Context) (stop func())
	network := func(kind string) fault {
		return func(context.Context) func() {
			remove, err := e.network.Inject(kind)
			if err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := remove(); err != nil {
					t.Error(err)
				}
			}
		}
	}
	s3Errors := func(kind string) fault {
		return func(context.Context) func() {
			e.s3errors.Set(0.5, kind)
			return func() { e.s3errors.Set(0) }
		}
	}
	background := func(run func(ctx context.Context)) fault {
		return func(ctx context.Context) func() {
			ctx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() { run(ctx) })
			return func() { cancel(); wg.Wait() }
		}
	}
	cases := []struct {
		name  string
		fault fault
	}{
		{"slowdown", s3Errors(faults.SlowDown)},
		{"internal error", s3Errors(faults.Internal)},
		{"internal error after the write", s3Errors(faults.InternalAfter)},
		{"function killed mid-record", background(func(ctx context.Context) { e.killFunctions(ctx, 100*time.Millisecond, 400*time.Millisecond) })},
		{"S3 restarted", background(func(ctx context.Context) {
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
				e.restartS3(ctx)
			}
		})},
	}
	for _, kind := range faults.NetworkKinds {
		cases = append(cases, struct {
			name  string
			fault fault
		}{kind, network(kind)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var actions []action
			for i := range faultUploads {
				img := valid[i%len(valid)]
				actions = append(actions, action{
					key:      fmt.Sprintf("uploads/faults/%s/%02d %s%s", tc.name, i, img.name, img.ext),
					versions: []image{img},
					at:       time.Duration(i) * 50 * time.Millisecond,
				})
			}
			before := e.faults()
			stop := tc.fault(t.Context())
			e.play(t.Context(), actions)
			e.waitAttempted(t.Context(), actions, time.Minute)
			stop()
			ctx, cancel := withinDeadline(t, 5*time.Minute)
			defer cancel()
			e.settle(ctx)
			r := e.check(ctx, actions)
			injected := e.faults().Since(before)
			t.Logf("faults %s: uploads %d, injected %s, outputs %d, recorded failures %d, lost %d",
				tc.name, len(actions), injected, r.outputs, r.failures, r.lost)
			if injected.Total() == 0 {
				t.Error("no fault was injected: the case tested nothing")
			}
			r.fail(t)
		})
	}
}
