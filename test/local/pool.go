package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Pool is the stack's function processes: each one the bootstrap under its
// own runtime emulator, taking one invocation at a time like a Lambda
// execution environment (the emulator also fails on a second concurrent
// invoke). Invoke runs a payload on a free one, waiting while all are busy.
// The relay spreads S3 events over the pool; another caller, such as a
// stand-in for S3 Batch Operations, may invoke through the same pool.
type Pool struct {
	client *http.Client
	free   chan *function
	size   int
	mu     sync.Mutex
	busy   map[*function]bool
	all    []*function
}

// function is one emulator and its bootstrap.
type function struct {
	name      string
	invokeURL string
	rie       *process // nil when the pool did not start it
}

func newPool(fns []*function, timeout time.Duration) *Pool {
	p := &Pool{
		client: &http.Client{Timeout: timeout + 10*time.Second},
		free:   make(chan *function, len(fns)),
		size:   len(fns),
		busy:   map[*function]bool{},
		all:    fns,
	}
	for _, fn := range fns {
		p.free <- fn
	}
	return p
}

// Size is the number of function processes.
func (p *Pool) Size() int { return p.size }

// Invoke runs payload on a free function process and returns the response
// body. A function that returned an error, or whose bootstrap died during the
// invocation, gives a *FunctionError.
func (p *Pool) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var fn *function
	select {
	case fn = <-p.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	p.busy[fn] = true
	p.mu.Unlock()
	body, err := p.post(ctx, fn.name, fn.invokeURL, payload)
	p.mu.Lock()
	delete(p.busy, fn)
	p.mu.Unlock()
	p.free <- fn
	return body, err
}

func (p *Pool) post(ctx context.Context, name, url string, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // read to the end: nothing left to report
	if err != nil {
		return nil, fmt.Errorf("%s: reading the response: %w", name, err)
	}
	if fe := functionError(resp, body); fe != nil {
		return nil, fe
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s: %s", name, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// FunctionError is an error the function itself returned, or the emulator's
// report of a bootstrap that died (Runtime.ExitError): the emulator, like
// Lambda, answers with an errorType and errorMessage body.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string { return "function error " + e.Type + ": " + e.Message }

// functionError returns the FunctionError an invocation's response carries,
// or nil.
func functionError(resp *http.Response, body []byte) *FunctionError {
	var fe FunctionError
	decodeErr := json.Unmarshal(body, &fe)
	if resp.Header.Get("X-Amz-Function-Error") == "" && fe.Message == "" && fe.Type == "" {
		return nil
	}
	if decodeErr != nil || fe.Message == "" {
		fe.Message = string(bytes.TrimSpace(body))
	}
	return &fe
}

// KillBusy kills the bootstrap of one function process that is in the middle
// of an invocation, as a crash or the kernel's OOM killer would: the emulator
// answers that invocation with Runtime.ExitError and starts a new bootstrap
// for the next. It returns the function's name, or "" when none is busy.
func (p *Pool) KillBusy() (string, error) {
	p.mu.Lock()
	var busy []*function
	for fn := range p.busy {
		if fn.rie != nil {
			busy = append(busy, fn)
		}
	}
	p.mu.Unlock()
	if len(busy) == 0 {
		return "", nil
	}
	fn := busy[rand.IntN(len(busy))]
	pids, err := children(fn.rie.cmd.Process.Pid)
	if err != nil || len(pids) == 0 {
		return "", fmt.Errorf("%s: no bootstrap process under the emulator (%v)", fn.name, err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return "", fmt.Errorf("kill the bootstrap of %s: %w", fn.name, err)
		}
	}
	return fn.name, nil
}

// children lists the processes whose parent is pid.
func children(pid int) ([]int, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue // the task ended
		}
		for _, f := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids, nil
}

// stop stops every function process the pool started.
func (p *Pool) stop() {
	for _, fn := range p.all {
		if fn.rie != nil {
			fn.rie.stop(3 * time.Second)
		}
	}
}
