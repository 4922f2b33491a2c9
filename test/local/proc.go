package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// process is a child in its own process group: stopping the group also stops
// what the child started (RIE starts the bootstrap), and a Ctrl-C in the
// terminal reaches only this program, which stops the children in order.
type process struct {
	name, logPath string
	cmd           *exec.Cmd
	done          chan struct{}
	err           error // valid after done is closed
}

func startProcess(name, logPath, dir string, env []string, argv ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }() // the child holds its own descriptor
	say(logFile, "---- %s: %s starting", time.Now().Format(time.RFC3339), name)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If this program dies without cleaning up (a test binary's timeout
		// panic, kill -9), the kernel kills the child with it.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports an early exit as an error naming the log.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.name, p.err, p.logPath, tail(p.logPath, 15))
	default:
		return nil
	}
}

// stop asks the group to terminate, then kills it after grace.
func (p *process) stop(grace time.Duration) {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Members that outlived the leader (a bootstrap mid-invoke) go too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// waitFor polls ready until it succeeds, the process exits, or the timeout.
func (p *process) waitFor(ctx context.Context, timeout time.Duration, ready func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if exitErr := p.exited(); exitErr != nil {
			return exitErr
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w; last lines of %s:\n%s", p.name, timeout, err, p.logPath, tail(p.logPath, 15))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of a log file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePort asks the kernel for an unused 127.0.0.1 port. Another program may
// take it before the child binds it; the child then fails to start with a
// clear "address already in use" in its log.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return port, ln.Close()
}

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// dialable is a readiness check for servers without a health endpoint.
func dialable(addr string) func() error {
	return func() error {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

var errPortInUse = errors.New("port in use")

// checkPortFree fails early, with a message a user can act on, when a fixed
// port is taken (a second `make local`, another MinIO).
func checkPortFree(port int) error {
	ln, err := net.Listen("tcp", hostPort(port))
	if err != nil {
		return fmt.Errorf("127.0.0.1:%d: %w (%v)", port, errPortInUse, err)
	}
	return ln.Close()
}
