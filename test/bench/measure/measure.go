// Package measure runs external processes and reports what the kernel says
// they cost: wall time, CPU time and peak resident memory (wait4's rusage).
package measure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Cmd is one process of a pipeline.
type Cmd struct {
	Args []string
	Env  []string // added to the harness's own environment
}

// Sample is what one run of a pipeline cost.
type Sample struct {
	Wall time.Duration
	// CPU is user+system time summed over the pipeline's processes: at a
	// Lambda's fraction of a core it, not wall time, is what an image costs.
	CPU time.Duration
	// MaxRSS is the largest peak resident set of any one process, in bytes.
	MaxRSS   int64
	ExitCode int // of the last process; the first non-zero one wins
	Stderr   string
}

// Run starts cmds as a shell-style pipeline (each one's stdout feeds the
// next one's stdin), feeds stdin to the first and copies the last one's stdout
// to stdout. A non-zero exit is reported in Sample.ExitCode, not as an error:
// rejecting bad input is an outcome the benchmark records. The error is for
// processes that could not be started or were killed by ctx.
func Run(ctx context.Context, stdin io.Reader, stdout io.Writer, cmds ...Cmd) (Sample, error) {
	if len(cmds) == 0 {
		return Sample{}, errors.New("measure: no command")
	}
	var stderr bytes.Buffer
	procs := make([]*exec.Cmd, len(cmds))
	for i, c := range cmds {
		p := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
		p.Env = append(os.Environ(), c.Env...)
		p.Stderr = &stderr
		procs[i] = p
	}
	procs[0].Stdin = stdin
	procs[len(procs)-1].Stdout = stdout
	// os.Pipe, not StdoutPipe: the kernel moves the bytes, so the harness adds
	// no copying work of its own to the measured time.
	var pipeEnds []*os.File
	for i := 0; i+1 < len(procs); i++ {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(pipeEnds)
			return Sample{}, fmt.Errorf("measure: pipe: %w", err)
		}
		procs[i].Stdout, procs[i+1].Stdin = w, r
		pipeEnds = append(pipeEnds, r, w)
	}

	start := time.Now()
	for i, p := range procs {
		if err := p.Start(); err != nil {
			closeAll(pipeEnds)
			for _, started := range procs[:i] {
				_ = started.Process.Kill()
				_ = started.Wait()
			}
			return Sample{}, fmt.Errorf("measure: start %s: %w", strings.Join(p.Args, " "), err)
		}
	}
	// The children hold their own copies; ours must close so readers see EOF.
	closeAll(pipeEnds)

	var s Sample
	var killed error
	for _, p := range procs {
		err := p.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit):
			if s.ExitCode == 0 {
				s.ExitCode = exit.ExitCode()
			}
		default:
			return Sample{}, fmt.Errorf("measure: wait %s: %w", strings.Join(p.Args, " "), err)
		}
		if ctx.Err() != nil && killed == nil {
			killed = fmt.Errorf("measure: %s: %w", strings.Join(p.Args, " "), ctx.Err())
		}
		ru, ok := p.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			return Sample{}, errors.New("measure: no rusage on this platform")
		}
		s.CPU += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		s.MaxRSS = max(s.MaxRSS, ru.Maxrss*1024) // Linux reports kilobytes
	}
	s.Wall = time.Since(start)
	s.Stderr = stderr.String()
	return s, killed
}

func closeAll(files []*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}
