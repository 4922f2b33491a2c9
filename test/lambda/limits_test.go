package lambda_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
	"github.com/s3-image-compressor/s3-image-compressor/test/lambda"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// parallel Lambda-shaped environments: six 256 MB shares take 0.87 of a
// core, which a 2-core CI machine gives them beside MinIO.
const parallel = 6

// TestLargestImagesAt256MB runs the largest image each default limit allows,
// in every format, through the real bootstrap at the default memory size
// and its CPU share, with the default timeout: each is compressed, kept or
// rejected with a reason, and the kernel kills nothing.
func TestLargestImagesAt256MB(t *testing.T) {
	e := newShaped(t)
	start := time.Now()
	images, err := lambda.Largest(t.Context(), config.Default().Limits, e.bins.Magick())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d images ready in %s (cached under $S3IC_CACHE/lambda-images)", len(images), time.Since(start).Round(time.Second))
	results := e.run(t, config.Default(), parallel, images)
	t.Logf("at %d MB, %.3f of a core, timeout %ds:\n%s", e.defaults.MemorySize, lambda.CPU(e.defaults.MemorySize), e.defaults.TimeoutSeconds, lambda.Table(results))
	for _, r := range results {
		switch {
		case r.OOMKills > 0 || r.Exited != "":
			t.Errorf("%s: killed (%d OOM kills in its cgroup; %s)", r.Image, r.OOMKills, r.Exited)
		case r.Decision == outcome.Rejected && r.Reason == "":
			t.Errorf("%s: rejected without a reason", r.Image)
		case !r.Decision.Stored() && r.Decision != outcome.Rejected:
			t.Errorf("%s: %s after %d invocations (%s); want it compressed, kept or rejected with a reason within the timeout", r.Image, r.Decision, r.Attempts, r.Reason)
		}
	}
}

// shaped is what a Lambda-shaped run needs: the checkout, a state
// directory, the programs, and the function's defaults (memory, timeout).
type shaped struct {
	root, state string
	bins        local.Binaries
	defaults    envconfig.Environment
}

func newShaped(t *testing.T) *shaped {
	t.Helper()
	root, err := local.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	bins, err := local.Prepare(t.Context(), root, filepath.Join(state, "bin"), testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	return &shaped{root: root, state: state, bins: bins, defaults: envconfig.Default("test")}
}

// run sends images through parallel environments at the default memory
// size, CPU share and timeout; where this machine cannot make them, the
// test says so and skips.
func (e *shaped) run(t *testing.T, settings config.Settings, parallel int, images []lambda.Image) []lambda.Result {
	t.Helper()
	results, err := lambda.Run(t.Context(), lambda.Options{
		Binaries: e.bins,
		StateDir: e.state,
		MemoryMB: e.defaults.MemorySize,
		Timeout:  time.Duration(e.defaults.TimeoutSeconds) * time.Second,
		Parallel: parallel,
		Log:      stackLog(t, e.state),
		Settings: settings,
	}, images)
	if errors.Is(err, lambda.ErrNoCgroups) {
		t.Skipf("cannot run Lambda-shaped environments here: %v (the test needs root and cgroup v1 memory and cpu, or a delegated cgroup v2)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return results
}

// stackLog is a file in the state directory for the stack's own messages
// (the relay's retries), named in the test log.
func stackLog(t *testing.T, state string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(state, "stack.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
