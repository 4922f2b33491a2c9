package measure_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/test/bench/measure"
)

// The test binary doubles as a process of known size: with this variable set
// it touches that many MiB and exits, so the peak RSS Run reports can be checked.
const allocEnv = "MEASURE_TEST_ALLOC_MIB"

var sink []byte // package level, so the touched buffer is not optimised away

func TestMain(m *testing.M) {
	if mib, err := strconv.Atoi(os.Getenv(allocEnv)); err == nil {
		sink = make([]byte, mib<<20)
		for i := range sink {
			sink[i] = byte(i)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestRunPipelineAndExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		stdin    string
		cmds     [][]string
		wantOut  string
		wantExit int
	}{
		{"single", "", [][]string{{"echo", "hello"}}, "hello\n", 0},
		{"pipe", "abc", [][]string{{"cat"}, {"tr", "a-z", "A-Z"}}, "ABC", 0},
		{"exit code of a failing stage", "", [][]string{{"sh", "-c", "exit 3"}, {"cat"}}, "", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cmds []measure.Cmd
			for _, args := range tc.cmds {
				cmds = append(cmds, measure.Cmd{Args: args})
			}
			var out bytes.Buffer
			s, err := measure.Run(context.Background(), strings.NewReader(tc.stdin), &out, cmds...)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if out.String() != tc.wantOut || s.ExitCode != tc.wantExit {
				t.Errorf("got stdout %q exit %d, want %q exit %d", out.String(), s.ExitCode, tc.wantOut, tc.wantExit)
			}
			if s.Wall <= 0 || s.MaxRSS <= 0 {
				t.Errorf("got wall %v and max RSS %d, want both positive", s.Wall, s.MaxRSS)
			}
		})
	}
}

func TestRunReportsPeakRSS(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const mib = 64
	s, err := measure.Run(context.Background(), nil, nil, measure.Cmd{Args: []string{self}, Env: []string{allocEnv + "=64"}})
	if err != nil || s.ExitCode != 0 {
		t.Fatalf("Run: %v, exit %d, stderr %s", err, s.ExitCode, s.Stderr)
	}
	if s.MaxRSS < mib<<20 || s.MaxRSS > 4*mib<<20 {
		t.Errorf("a process touching %d MiB: got peak RSS %d MiB, want between %d and %d", mib, s.MaxRSS>>20, mib, 4*mib)
	}
	if s.CPU <= 0 {
		t.Errorf("got CPU time %v for writing %d MiB, want > 0", s.CPU, mib)
	}
}

func TestRunStopsAtDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := measure.Run(ctx, nil, nil, measure.Cmd{Args: []string{"sleep", "10"}})
	if err == nil {
		t.Error("a process killed by its deadline: got no error, want one")
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Run returned after %v, want soon after the 100ms deadline", time.Since(start))
	}
}

// Linux carries the RSS peak across exec and Go starts children with vfork:
// measured naively, a small child of a big parent reports the parent's peak.
func TestSmallChildOfBigParentReportsItsOwnRSS(t *testing.T) {
	sink = make([]byte, 200<<20)
	for i := range sink {
		sink[i] = 1
	}
	defer func() { sink = nil }()
	s, err := measure.Run(context.Background(), nil, nil, measure.Cmd{Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.MaxRSS > 32<<20 {
		t.Errorf("`true` run by a parent that touched 200 MiB: peak RSS %d MiB, want its own few MiB", s.MaxRSS>>20)
	}
}
