// Package local runs the whole pipeline on this machine: MinIO as S3 with a
// webhook notification filtered like the CDK stack's, a relay standing in for
// Lambda's asynchronous invocation, and the real bootstrap under the Lambda
// runtime interface emulator. `make local`, `make demo` and the end-to-end
// tests are built on it.
package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/infra/backfill"
	"github.com/s3-image-compressor/s3-image-compressor/infra/stackoutputs"
)

// Options configure a Stack; zero values take the defaults noted.
type Options struct {
	Binaries Binaries
	// StateDir holds MinIO's data, its undelivered events, logs and the
	// failures file. Reusing it keeps the buckets' contents between runs.
	StateDir string
	Settings config.Settings // the zero value means config.Default()

	SourceBucket      string // default "s3ic-source"
	DestinationBucket string // default "s3ic-compressed"
	// Port is MinIO's S3 port on 127.0.0.1; 0 picks a free one.
	Port                 int
	AccessKey, SecretKey string // default DefaultAccessKey, DefaultSecretKey

	MemoryMB        int           // the function's memory size, default 256
	FunctionTimeout time.Duration // default 60 s
	// Functions is the number of function processes (emulators) behind the
	// relay, default 2: events, duplicate deliveries and overwrites of one
	// key then run at once, as they do in Lambda.
	Functions int
	// FunctionCommand, given a function process's name ("function-1"),
	// returns a command it runs under, with the emulator's command line as
	// its arguments (an entry into a cgroup); nil runs it directly.
	FunctionCommand func(name string) []string
	// FunctionS3, given MinIO's endpoint, returns the endpoint the function
	// processes reach S3 at (a fault proxy in front of MinIO); nil means
	// MinIO itself. The stack's own client always talks to MinIO.
	FunctionS3 func(minio string) (string, error)

	// Log receives the stack's own messages (retries, failures); nil discards.
	Log io.Writer
	// OnOutcome is called, one call at a time, for every record the function
	// reports, and for every event the relay gave up on.
	OnOutcome func(outcome.Record)
	// OnDelivery is called with each webhook body the relay accepted.
	OnDelivery func(body []byte)
	// NoNotifications leaves the source bucket without its notification
	// rules: only backfill jobs invoke the function (make backfill-demo).
	NoNotifications bool
}

// Credentials of the local MinIO. They protect nothing (it listens on
// 127.0.0.1 only) and are printed for the copy-paste upload command.
const (
	DefaultAccessKey = "s3ic-local"
	DefaultSecretKey = "s3ic-local-secret"
	Region           = "us-east-1"
	// webhookID names MinIO's notification target; it is part of the queue ARN.
	webhookID = "S3IC"

	// The local stack's stand-ins for what AWS names: the account, the
	// function, the Batch Operations role, and the bucket that keeps the
	// backfill's manifests and completion reports.
	Account       = "000000000000"
	FunctionArn   = "arn:aws:lambda:" + Region + ":" + Account + ":function:s3-image-compressor-local"
	BatchRoleArn  = "arn:aws:iam::" + Account + ":role/s3-image-compressor-local-batch"
	ReportsBucket = "s3ic-reports"
)

// Stack is a running local pipeline.
type Stack struct {
	Endpoint          string // MinIO's S3 endpoint, http://127.0.0.1:PORT
	AccessKey         string
	SecretKey         string
	SourceBucket      string
	DestinationBucket string
	Settings          config.Settings
	FailuresFile      string // permanent failures, one JSON document per line
	LogDir            string // minio.log, function.log (the emulator and the bootstrap)
	RelayURL          string // where MinIO posts events; tests may post too
	S3                *s3.Client
	// ControlEndpoint serves the S3 Control calls of backfill jobs; the
	// backfill command finds it, and everything else it needs, in BackfillFile.
	ControlEndpoint string
	BackfillFile    string
	Backfill        stackoutputs.Backfill

	opts       Options
	functionS3 string // the S3 endpoint the function processes use
	minio      *process
	pool       *Pool
	relay      *relay
	batch      *batchEngine
	control    *s3Control
}

// Start runs MinIO, the relay and the emulator, creates the buckets and
// applies the notification configuration. On error everything already started
// is stopped again. Close stops the stack.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	o = o.withDefaults()
	logf := func(format string, args ...any) { say(o.Log, format, args...) }
	s := &Stack{
		AccessKey:         o.AccessKey,
		SecretKey:         o.SecretKey,
		SourceBucket:      o.SourceBucket,
		DestinationBucket: o.DestinationBucket,
		Settings:          o.Settings,
		FailuresFile:      filepath.Join(o.StateDir, "failures.jsonl"),
		LogDir:            filepath.Join(o.StateDir, "logs"),
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	for _, dir := range []string{s.LogDir, filepath.Join(o.StateDir, "minio"), filepath.Join(o.StateDir, "events"), filepath.Join(o.StateDir, "tmp")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	if o.Port == 0 {
		if o.Port, err = freePort(); err != nil {
			return nil, err
		}
	} else if err := checkPortFree(o.Port); err != nil {
		return nil, fmt.Errorf("MinIO's port: %w: stop what uses it or choose another port", err)
	}
	s.opts = o // with the port chosen, for the function processes and RestartS3
	s.Endpoint = "http://" + hostPort(o.Port)
	s.functionS3 = s.Endpoint
	if o.FunctionS3 != nil {
		if s.functionS3, err = o.FunctionS3(s.Endpoint); err != nil {
			return nil, fmt.Errorf("the functions' S3 endpoint: %w", err)
		}
	}
	if s.pool, err = s.startFunctions(ctx); err != nil {
		return nil, err
	}
	// The relay runs before MinIO: MinIO checks its webhook target at start.
	s.relay, err = newRelay(s.pool, s.FailuresFile, o.OnOutcome, o.OnDelivery, logf)
	if err != nil {
		return nil, err
	}
	s.RelayURL = s.relay.URL()
	if err := s.warmUp(ctx); err != nil {
		return nil, err
	}
	s.relay.start()
	if err := s.startMinIO(ctx, o); err != nil {
		return nil, err
	}
	s.S3 = s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  aws.CredentialsProviderFunc(s.credentials),
	})
	if err := s.setUpBuckets(ctx, !o.NoNotifications); err != nil {
		return nil, err
	}
	if err := s.startBatch(o); err != nil {
		return nil, err
	}
	return s, nil
}

func (o Options) withDefaults() Options {
	if o.Settings.SourcePrefix == "" {
		o.Settings = config.Default()
	}
	if o.SourceBucket == "" {
		o.SourceBucket = "s3ic-source"
	}
	if o.DestinationBucket == "" {
		o.DestinationBucket = "s3ic-compressed"
	}
	if o.AccessKey == "" {
		o.AccessKey, o.SecretKey = DefaultAccessKey, DefaultSecretKey
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 256
	}
	if o.FunctionTimeout == 0 {
		o.FunctionTimeout = 60 * time.Second
	}
	if o.Functions == 0 {
		o.Functions = 2
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.OnOutcome == nil {
		o.OnOutcome = func(outcome.Record) {}
	}
	return o
}

func (s *Stack) credentials(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey, Source: "local stack"}, nil
}

// Stats reports what the relay has seen so far.
func (s *Stack) Stats() RelayStats { return s.relay.stats() }

// Functions is the pool of function processes behind the relay, for callers
// that invoke the function themselves.
func (s *Stack) Functions() *Pool { return s.pool }

// RestartS3 stops MinIO and starts it again on the same port and data, as a
// fault: the functions' requests fail meanwhile, and MinIO delivers the
// events it had queued once it is back. It returns when MinIO is ready; an
// upload that MinIO acknowledges before then may get no event (see
// startMinIO), so uploads should wait for it, as S3 never accepts one it
// could lose.
func (s *Stack) RestartS3(ctx context.Context) error {
	s.minio.stop(5 * time.Second)
	return s.startMinIO(ctx, s.opts)
}

// Close stops the batch engine (its running jobs end), MinIO (no more
// events), the relay and the function processes, killing their process
// groups if they do not stop within a few seconds.
func (s *Stack) Close() {
	if s.control != nil {
		_ = os.Remove(s.BackfillFile) // it points at what is stopping
		s.control.close()
		s.batch.close()
	}
	if s.minio != nil {
		s.minio.stop(5 * time.Second)
	}
	if s.relay != nil {
		s.relay.stop()
	}
	if s.pool != nil {
		s.pool.stop()
	}
}

func (s *Stack) startMinIO(ctx context.Context, o Options) error {
	consolePort, err := freePort()
	if err != nil {
		return err
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + o.StateDir,
		"MINIO_ROOT_USER=" + o.AccessKey,
		"MINIO_ROOT_PASSWORD=" + o.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_SITE_REGION=" + Region,
		"MINIO_NOTIFY_WEBHOOK_ENABLE_" + webhookID + "=on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_" + webhookID + "=" + s.RelayURL,
		// With a queue directory MinIO keeps an event until the relay has
		// accepted it and retries every few seconds; without one, an event the
		// relay refuses (queue full, not yet started) would be lost.
		"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_" + webhookID + "=" + filepath.Join(o.StateDir, "events"),
		// The event is in that queue before MinIO acknowledges the upload, as
		// S3 guarantees; asynchronously, a restart loses the events of the
		// uploads it acknowledged last.
		"MINIO_API_SYNC_EVENTS=on",
	}
	s.minio, err = startProcess("MinIO", filepath.Join(s.LogDir, "minio.log"), o.StateDir, env,
		o.Binaries.MinIO, "server", "--quiet",
		"--address", hostPort(o.Port), "--console-address", hostPort(consolePort),
		"--certs-dir", filepath.Join(o.StateDir, "certs"),
		filepath.Join(o.StateDir, "minio"))
	if err != nil {
		return err
	}
	// Ready, not just live: MinIO accepts uploads before it has loaded the
	// buckets' notification rules, and sends no event for those.
	ready := s.Endpoint + "/minio/health/cluster"
	return s.minio.waitFor(ctx, 60*time.Second, func() error {
		resp, err := http.Get(ready)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", ready, resp.Status)
		}
		// MinIO answers 200 before its object layer is up, saying so in a
		// header; requests until then fail with XMinioServerNotInitialized.
		if status := resp.Header.Get("X-Minio-Server-Status"); status != "" {
			return fmt.Errorf("%s: server status %s", ready, status)
		}
		return nil
	})
}

// startFunctions starts Options.Functions function processes.
func (s *Stack) startFunctions(ctx context.Context) (*Pool, error) {
	var fns []*function
	for i := 1; i <= s.opts.Functions; i++ {
		name := fmt.Sprintf("function-%d", i)
		url, rie, err := s.startRIE(ctx, name)
		if err != nil {
			for _, fn := range fns {
				fn.rie.stop(3 * time.Second)
			}
			return nil, err
		}
		fns = append(fns, &function{name: name, invokeURL: url, rie: rie})
	}
	return newPool(fns, s.opts.FunctionTimeout), nil
}

// startRIE runs the bootstrap under an emulator with the environment the CDK
// stack gives the function in AWS, plus what only a local run needs (the S3
// endpoint, credentials, the file failure sink). Nothing else of this
// process's environment leaks in. It returns the emulator's invoke URL.
func (s *Stack) startRIE(ctx context.Context, name string) (string, *process, error) {
	o := s.opts
	fn := config.Function{
		Settings:          o.Settings,
		SourceBucket:      o.SourceBucket,
		DestinationBucket: o.DestinationBucket,
		FailureQueueURL:   "file://" + s.FailuresFile,
	}
	fnEnv, err := fn.Environment()
	if err != nil {
		return "", nil, fmt.Errorf("function environment: %w", err)
	}
	env := []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"TMPDIR=" + filepath.Join(o.StateDir, "tmp"), // Lambda's /tmp
		"AWS_ENDPOINT_URL_S3=" + s.functionS3,
		"AWS_ACCESS_KEY_ID=" + o.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + o.SecretKey,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		// No shared config files or instance metadata: only the variables above.
		"AWS_CONFIG_FILE=" + filepath.Join(o.StateDir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(o.StateDir, "no-aws-credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_LAMBDA_FUNCTION_NAME=s3-image-compressor-local",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(o.MemoryMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(o.FunctionTimeout/time.Second)),
	}
	for k, v := range fnEnv {
		env = append(env, k+"="+v)
	}
	ports := [2]int{}
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return "", nil, err
		}
	}
	addr := hostPort(ports[0])
	argv := []string{o.Binaries.RIE,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", hostPort(ports[1]),
		o.Binaries.Bootstrap}
	if o.FunctionCommand != nil {
		argv = append(o.FunctionCommand(name), argv...)
	}
	rie, err := startProcess(name, filepath.Join(s.LogDir, name+".log"), filepath.Dir(o.Binaries.Bootstrap), env, argv...)
	if err != nil {
		return "", nil, err
	}
	if err := rie.waitFor(ctx, 30*time.Second, dialable(addr)); err != nil {
		rie.stop(3 * time.Second)
		return "", nil, err
	}
	return "http://" + addr + "/2015-03-31/functions/function/invocations", rie, nil
}

// warmUp invokes every function process once with no records, so a
// bootstrap that cannot start (bad environment, missing library) fails Start
// with its log instead of failing every upload later.
func (s *Stack) warmUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, fn := range s.pool.all {
		if _, err := s.pool.post(ctx, fn.name, fn.invokeURL, []byte(`{"Records":[]}`)); err != nil {
			return fmt.Errorf("the function does not start under the emulator: %w; last lines of %s:\n%s",
				err, fn.rie.logPath, tail(fn.rie.logPath, 20))
		}
	}
	return nil
}

// startBatch runs the batch engine and its S3 Control endpoint, and writes
// the file the backfill command reads with -local.
func (s *Stack) startBatch(o Options) error {
	s.Backfill = stackoutputs.Backfill{
		SourceBucket: s.SourceBucket, DestinationBucket: s.DestinationBucket,
		FunctionArn: FunctionArn, RoleArn: BatchRoleArn,
		Manifests: stackoutputs.Location{Bucket: ReportsBucket, Prefix: "manifests/"},
		Reports:   stackoutputs.Location{Bucket: ReportsBucket, Prefix: "reports/"},
	}
	logf := func(format string, args ...any) { say(o.Log, format, args...) }
	// One task at a time per function process, as Lambda runs one event per
	// execution environment.
	s.batch = newBatchEngine(s.S3, s.pool.Invoke, s.pool.Size(), Account, FunctionArn, BatchRoleArn, logf)
	var err error
	if s.control, err = newS3Control(s.batch, s.AccessKey); err != nil {
		s.batch.close()
		return err
	}
	s.ControlEndpoint = s.control.URL()
	s.BackfillFile = filepath.Join(o.StateDir, backfill.LocalStackFile)
	doc, err := json.MarshalIndent(backfill.LocalStack{
		Outputs: s.Backfill.Outputs(), Settings: s.Settings, MemoryMB: o.MemoryMB, Architecture: "arm64",
		Region: Region, Account: Account, S3Endpoint: s.Endpoint, ControlEndpoint: s.ControlEndpoint,
		AccessKey: s.AccessKey, SecretKey: s.SecretKey,
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(s.BackfillFile, append(doc, '\n'), 0o600)
}
