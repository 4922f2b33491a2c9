// Package measure runs external processes and reports what the kernel says
// they cost: wall time, CPU time and peak resident memory (wait4's rusage).
//
// Peak RSS is read through GNU time, which forks the measured program
// itself: Linux carries a process's RSS high-water mark across exec, and Go
// starts children with vfork, so a child started directly reports at least
// the harness's own peak (200 MB for `true` after the harness touched 200 MB).
package measure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TimePath is GNU time (Debian package time).
var TimePath = "/usr/bin/time"

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
	ExitCode int // of the first process that failed, else 0
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
	if _, err := os.Stat(TimePath); err != nil {
		return Sample{}, fmt.Errorf("measure: GNU time measures peak RSS (apt-get install time): %w", err)
	}
	rssDir, err := os.MkdirTemp("", "measure-")
	if err != nil {
		return Sample{}, err
	}
	defer func() { _ = os.RemoveAll(rssDir) }()
	var stderr bytes.Buffer
	procs := make([]*exec.Cmd, len(cmds))
	rssFiles := make([]string, len(cmds))
	for i, c := range cmds {
		rssFiles[i] = filepath.Join(rssDir, strconv.Itoa(i))
		args := append([]string{"-f", "%M", "-o", rssFiles[i], "--"}, c.Args...)
		p := exec.CommandContext(ctx, TimePath, args...)
		// GNU time does not pass a kill on to the program it measures: kill
		// the process group both are in.
		p.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		p.Cancel = func() error { return syscall.Kill(-p.Process.Pid, syscall.SIGKILL) }
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
	for i, p := range procs {
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
		// CPU time is not inherited across exec; GNU time's own share is
		// well under a millisecond.
		ru, ok := p.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			return Sample{}, errors.New("measure: no rusage on this platform")
		}
		s.CPU += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if killed == nil {
			kb, err := readMaxRSS(rssFiles[i])
			if err != nil {
				return Sample{}, fmt.Errorf("measure: %s: %w", strings.Join(cmds[i].Args, " "), err)
			}
			s.MaxRSS = max(s.MaxRSS, kb*1024)
		}
	}
	s.Wall = time.Since(start)
	s.Stderr = stderr.String()
	return s, killed
}

// readMaxRSS reads GNU time's %M (kilobytes): the last line of its output,
// after any "Command exited with non-zero status" line.
func readMaxRSS(path string) (int64, error) {
	out, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	kb, err := strconv.ParseInt(strings.TrimSpace(lines[len(lines)-1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GNU time printed %q, want the peak RSS in KiB", out)
	}
	return kb, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}
