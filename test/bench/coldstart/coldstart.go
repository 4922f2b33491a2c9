// Package coldstart measures the function as Lambda runs it: the real
// bootstrap under the Lambda runtime interface emulator, which starts it on the
// first invocation, answering events against an in-process S3 (gofakes3).
// It times cold starts and reads the bootstrap's peak RSS, also for the
// largest photo, which is what must fit in the function's memory.
package coldstart

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// The events a cold function is measured with.
const (
	// Skipped is a key outside the source prefix: the function starts,
	// decides and answers without touching S3 or an image, so the time is the
	// init cost alone.
	Skipped = "outside-prefix"
	// Tiny is a small JPEG in the source prefix: init plus one real, cheap
	// get-compress-put round trip.
	Tiny = "tiny-image"
	// Photo is Options.Photo: its peak RSS is the function's at its largest.
	Photo = "largest-photo"
)

// Options say what to run.
type Options struct {
	RIE, Bootstrap string
	TinyJPEG       []byte
	// Photo, when set, is run like the tiny image; Name gives the extension.
	Photo    Object
	MemoryMB int    // the function's memory size as Lambda would report it
	Dir      string // logs and the function's TMPDIR
	Settings config.Settings
}

// Object is an upload.
type Object struct {
	Name string
	Data []byte
}

// Sample is one cold start.
type Sample struct {
	Event string
	// FirstAnswer runs from the first invocation request, which makes the
	// emulator start the bootstrap, to its answer.
	FirstAnswer time.Duration
	// InitDuration is what the emulator's REPORT line says the bootstrap's
	// init took (0 when it prints none).
	InitDuration time.Duration
	// Warm is a second invocation of the same kind on the now-running process.
	Warm time.Duration
	// PeakRSS is the bootstrap's VmHWM after both invocations.
	PeakRSS  int64
	Decision outcome.Decision // of the first invocation's record
}

const (
	sourceBucket = "bench-source"
	destBucket   = "bench-destination"
)

// Measure starts a fresh emulator and bootstrap for each of runs × the
// events, so every first invocation is a cold start.
func Measure(ctx context.Context, o Options, runs int) ([]Sample, error) {
	if err := os.MkdirAll(filepath.Join(o.Dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	backend := s3mem.New()
	for _, b := range []string{sourceBucket, destBucket} {
		if err := backend.CreateBucket(b); err != nil {
			return nil, fmt.Errorf("fake S3: %w", err)
		}
	}
	s3 := httptest.NewServer(gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	defer s3.Close()

	uploads := map[string]Object{Tiny: {Name: "tiny.jpg", Data: o.TinyJPEG}}
	kinds := []string{Skipped, Tiny}
	if len(o.Photo.Data) > 0 {
		uploads[Photo] = o.Photo
		kinds = append(kinds, Photo)
	}
	var samples []Sample
	for run := range runs {
		for _, kind := range kinds {
			// Two objects: one per invocation, so the second is no duplicate.
			var events [2][]byte
			for i := range events {
				key := fmt.Sprintf("elsewhere/run%d-%d.jpg", run, i)
				obj, upload := uploads[kind]
				if upload {
					key = fmt.Sprintf("%s%s-run%d-%d%s", o.Settings.SourcePrefix, kind, run, i, filepath.Ext(obj.Name))
					if _, err := backend.PutObject(sourceBucket, key, nil, bytes.NewReader(obj.Data), int64(len(obj.Data)), nil); err != nil {
						return nil, fmt.Errorf("fake S3: %w", err)
					}
				}
				events[i] = s3Event(sourceBucket, key, obj.Data)
			}
			s, err := once(ctx, o, s3.URL, kind, events)
			if err != nil {
				return samples, fmt.Errorf("cold start %s, run %d: %w", kind, run+1, err)
			}
			samples = append(samples, s)
		}
	}
	return samples, nil
}

func once(ctx context.Context, o Options, s3URL, kind string, events [2][]byte) (Sample, error) {
	env, err := environment(o, s3URL)
	if err != nil {
		return Sample{}, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return Sample{}, err
	}
	logPath := filepath.Join(o.Dir, "rie-"+kind+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return Sample{}, err
	}
	defer func() { _ = logFile.Close() }()
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	rie := exec.Command(o.RIE, "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(ports[1]), o.Bootstrap)
	rie.Env, rie.Dir = env, o.Dir
	rie.Stdout, rie.Stderr = logFile, logFile
	// Its own process group, so stopping it also stops the bootstrap it started.
	rie.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := rie.Start(); err != nil {
		return Sample{}, fmt.Errorf("start %s: %w", o.RIE, err)
	}
	defer stop(rie)

	if err := waitDialable(ctx, addr, 20*time.Second); err != nil {
		return Sample{}, fmt.Errorf("emulator not listening: %w (log %s)", err, logPath)
	}
	s := Sample{Event: kind}
	var body []byte
	s.FirstAnswer, body, err = invoke(ctx, addr, events[0])
	if err != nil {
		return s, fmt.Errorf("%w (log %s)", err, logPath)
	}
	if s.Decision, err = decision(body); err != nil {
		return s, fmt.Errorf("%w (log %s)", err, logPath)
	}
	if s.Warm, _, err = invoke(ctx, addr, events[1]); err != nil {
		return s, fmt.Errorf("warm: %w (log %s)", err, logPath)
	}
	if s.PeakRSS, err = childPeakRSS(rie.Process.Pid); err != nil {
		return s, err
	}
	s.InitDuration = initDuration(logPath)
	return s, nil
}

// environment is what the stack gives the function, with the fake S3 as the
// endpoint and no AWS configuration of this machine's leaking in.
func environment(o Options, s3URL string) ([]string, error) {
	fn := config.Function{Settings: o.Settings, SourceBucket: sourceBucket, DestinationBucket: destBucket}
	fnEnv, err := fn.Environment()
	if err != nil {
		return nil, fmt.Errorf("function environment: %w", err)
	}
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"TMPDIR=" + filepath.Join(o.Dir, "tmp"),
		"AWS_ENDPOINT_URL_S3=" + s3URL,
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		// gofakes3 does not verify streamed trailing checksums.
		"AWS_REQUEST_CHECKSUM_CALCULATION=when_required",
		"AWS_LAMBDA_FUNCTION_NAME=s3-image-compressor-bench",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(o.MemoryMB),
	}
	for k, v := range fnEnv {
		env = append(env, k+"="+v)
	}
	return env, nil
}

func invoke(ctx context.Context, addr string, event []byte) (time.Duration, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	if err != nil {
		return 0, nil, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("invoke: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	elapsed := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		return elapsed, body, fmt.Errorf("invoke: %s %v: %s", resp.Status, err, body)
	}
	return elapsed, body, nil
}

// decision reads the function's outcome.Response; a function error arrives
// as HTTP 200 with an errorMessage.
func decision(body []byte) (outcome.Decision, error) {
	var r struct {
		outcome.Response
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return "", fmt.Errorf("function answered %q: %w", body, err)
	}
	if r.ErrorMessage != "" || len(r.Records) != 1 {
		return "", fmt.Errorf("function answered %s, want one record", body)
	}
	return r.Records[0].Decision, nil
}

func s3Event(bucket, key string, body []byte) []byte {
	sum := md5.Sum(body)
	ev := map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
		"eventTime": time.Now().UTC().Format(time.RFC3339), "eventName": "ObjectCreated:Put",
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"bucket":          map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object":          map[string]any{"key": key, "size": len(body), "eTag": hex.EncodeToString(sum[:]), "sequencer": "0A1B2C3D4E5F678901"},
		},
	}}}
	doc, err := json.Marshal(ev)
	if err != nil {
		panic(err) // maps of strings and ints always marshal
	}
	return doc
}

// childPeakRSS is the high-water mark of the emulator's child: the bootstrap.
// A Go program forks from whichever thread runs, so every thread's children
// are looked at.
func childPeakRSS(parent int) (int64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	if err != nil {
		return 0, err
	}
	for _, t := range tasks {
		children, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, pid := range strings.Fields(string(children)) {
			if rss, ok := peakRSS(pid); ok {
				return rss, nil
			}
		}
	}
	return 0, errors.New("the emulator has no running bootstrap child after two invocations")
}

// peakRSS reads VmHWM from /proc/PID/status.
func peakRSS(pid string) (int64, bool) {
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

// The emulator logs "INIT REPORT(durationMs: 17.696000)" when the bootstrap
// reports ready; its REPORT line's "Init Duration" is not the same figure.
var initRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

func initDuration(logPath string) time.Duration {
	log, err := os.ReadFile(logPath)
	if err != nil {
		return 0
	}
	m := initRE.FindSubmatch(log)
	if m == nil {
		return 0
	}
	ms, _ := strconv.ParseFloat(string(m[1]), 64)
	return time.Duration(ms * float64(time.Millisecond))
}

func stop(p *exec.Cmd) {
	pgid := p.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // a bootstrap that outlived the emulator
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitDialable(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
