// Package chaos_test uploads images into the local stack while real faults
// hit everything between the function processes and S3, then checks from S3
// itself that every upload ended as exactly one current output or a
// recorded failure, and that no upload was changed or lost. TestFaults takes
// one fault at a time; TestBurst throws them all at a burst of uploads.
//
// make test runs both at a size that fits CI; make chaos runs the burst with
// the size and duration as parameters (CHAOS_UPLOADS, CHAOS_DURATION).
package chaos_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The burst's parameters, from the environment.
var (
	uploads   = envInt("CHAOS_UPLOADS", 1000)
	duration  = envDuration("CHAOS_DURATION", time.Minute)
	functions = envInt("CHAOS_FUNCTIONS", 4)
)

// burstErrorRate is the share of the functions' S3 requests answered with
// an S3 error during the burst.
const burstErrorRate = 0.04

func TestBurst(t *testing.T) {
	e := startEnv(t, functions)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("burst: %d keys over %s on %d function processes, seed %d (CHAOS_SEED repeats the plan)", uploads, duration, functions, seed)
	actions := plan(rand.New(rand.NewPCG(seed, 0)), images(t, e.magick), uploads, duration)

	start := time.Now()
	e.underFaults(t.Context(), func() { e.play(t.Context(), actions) })
	t.Logf("uploads done in %s; waiting for every outcome", time.Since(start).Round(time.Second))
	waitCtx, cancel := withinDeadline(t, 10*time.Minute)
	defer cancel()
	e.settle(waitCtx)
	r := e.check(t.Context(), actions)
	t.Logf("burst: uploads %d (%d keys, %d overwritten, %d deleted after upload, %d delivered twice); "+
		"faults: %s; outputs %d, recorded failures %d, stale %d, lost %d",
		r.uploads, len(actions), r.overwritten, r.deleted, r.redelivered, e.faults(),
		r.outputs, r.failures, r.stale, r.lost)
	r.fail(t)
}

// underFaults runs fn while every fault runs: network faults one after
// another, S3 errors, function processes killed mid-record, and MinIO
// restarted half-way through the burst's duration.
func (e *env) underFaults(ctx context.Context, fn func()) {
	faultCtx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	running.Go(func() {
		if err := e.network.Run(faultCtx, 2*time.Second, 3*time.Second); err != nil {
			e.t.Error(err)
		}
	})
	running.Go(func() { e.killFunctions(faultCtx, 2*time.Second, 6*time.Second) })
	running.Go(func() {
		select {
		case <-faultCtx.Done():
		case <-time.After(duration / 2):
			e.restartS3(faultCtx)
		}
	})
	e.s3errors.Set(burstErrorRate)
	fn()
	stop()
	running.Wait()
	e.s3errors.Set(0)
}

// play carries out the actions at their times.
func (e *env) play(ctx context.Context, actions []action) {
	start := time.Now()
	var wg sync.WaitGroup
	for i, a := range actions {
		if wait := a.at - time.Since(start); wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		wg.Go(func() { e.act(ctx, a, rng) })
	}
	wg.Wait()
}

func (r report) fail(t *testing.T) {
	t.Helper()
	for _, p := range r.problems {
		t.Error(p)
	}
}
