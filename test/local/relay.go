package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// RelayStats count what went through the relay.
type RelayStats struct {
	Deliveries  int64 // webhook bodies accepted from MinIO (or re-posted by a test)
	Invocations int64 // requests to the emulator, retries included
	Retries     int64
	GaveUp      int64 // events recorded as failures after the last retry
}

// relay stands where Lambda's asynchronous invocation does in AWS: it takes
// MinIO's webhook deliveries, answers at once (MinIO wants a quick 2xx), and
// invokes the function through the pool, one event per function process at a
// time, so as many events run at once as the pool has processes. Like Lambda
// it retries a failed invocation twice and then records the event as a
// failure.
type relay struct {
	pool        *Pool
	queue       chan []byte
	retryDelays []time.Duration
	failures    string // file the event is appended to when retries are exhausted
	functionArn string
	onOutcome   func(outcome.Record)
	onDelivery  func(body []byte)
	logf        func(format string, args ...any)

	deliveries, invocations, retries, gaveUp atomic.Int64

	server   *http.Server
	listener net.Listener
	cancel   context.CancelFunc
	workers  sync.WaitGroup
	failMu   sync.Mutex // the function appends to the same file; one line per write keeps lines whole
}

// relayQueueSize bounds what the relay holds; beyond it MinIO is told to come
// back later (its queue store retries every few seconds).
const relayQueueSize = 256

// lambdaRetryDelays are Lambda's two asynchronous retries, shortened from
// minutes to seconds so a local run finishes.
var lambdaRetryDelays = []time.Duration{time.Second, 2 * time.Second}

func newRelay(pool *Pool, failures string, onOutcome func(outcome.Record), onDelivery func([]byte), logf func(string, ...any)) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("relay listen: %w", err)
	}
	r := &relay{
		pool:        pool,
		queue:       make(chan []byte, relayQueueSize),
		retryDelays: lambdaRetryDelays,
		failures:    failures,
		functionArn: FunctionArn,
		onOutcome:   onOutcome,
		onDelivery:  onDelivery,
		logf:        logf,
		listener:    ln,
	}
	r.server = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	return r, nil
}

// URL is where MinIO posts events.
func (r *relay) URL() string { return "http://" + r.listener.Addr().String() + "/" }

func (r *relay) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		if err := r.server.Serve(r.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logf("relay: %v", err)
		}
	}()
	for range r.pool.Size() {
		r.workers.Add(1)
		go r.work(ctx)
	}
}

// stop closes the door to MinIO first, then stops the worker; events still
// queued are recorded as failures, never dropped silently.
func (r *relay) stop() {
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.server.Shutdown(shutdownCtx)
	if r.cancel != nil {
		r.cancel()
		r.workers.Wait()
		r.abandonQueued()
	}
}

func (r *relay) stats() RelayStats {
	return RelayStats{
		Deliveries:  r.deliveries.Load(),
		Invocations: r.invocations.Load(),
		Retries:     r.retries.Load(),
		GaveUp:      r.gaveUp.Load(),
	}
}

func (r *relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST an S3 event", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var event events.S3Event
	if err := json.Unmarshal(body, &event); err != nil {
		r.logf("relay: refusing a delivery that is not an S3 event: %v", err)
		http.Error(w, "not an S3 event: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(event.Records) == 0 {
		return
	}
	select {
	case r.queue <- body:
		r.deliveries.Add(1)
		if r.onDelivery != nil {
			r.onDelivery(body)
		}
	default:
		r.logf("relay: queue full (%d events waiting): answering 503 so MinIO delivers %s again", relayQueueSize, eventKeys(event))
		http.Error(w, "relay queue full", http.StatusServiceUnavailable)
	}
}

func (r *relay) work(ctx context.Context) {
	defer r.workers.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case body := <-r.queue:
			r.handle(ctx, body)
		}
	}
}

func (r *relay) handle(ctx context.Context, body []byte) {
	payload := lambdaPayload(body)
	var lastErr error
	for attempt := 0; attempt <= len(r.retryDelays); attempt++ {
		if attempt > 0 {
			r.retries.Add(1)
			select {
			case <-ctx.Done():
				r.recordFailure(payload, "RelayShutdown", attempt, lastErr)
				return
			case <-time.After(r.retryDelays[attempt-1]):
			}
		}
		r.invocations.Add(1)
		outcomes, err := r.invoke(ctx, payload)
		if err == nil {
			for _, o := range outcomes {
				r.onOutcome(o)
			}
			return
		}
		if ctx.Err() != nil {
			r.recordFailure(payload, "RelayShutdown", attempt+1, err)
			return
		}
		lastErr = err
		r.logf("relay: invocation %d of %d failed: %v", attempt+1, len(r.retryDelays)+1, err)
	}
	r.gaveUp.Add(1)
	r.recordFailure(payload, "RetriesExhausted", len(r.retryDelays)+1, lastErr)
	var parsed events.S3Event
	_ = json.Unmarshal(payload, &parsed)
	for _, rec := range parsed.Records {
		r.onOutcome(outcome.Record{
			Bucket:   rec.S3.Bucket.Name,
			Key:      rec.S3.Object.URLDecodedKey,
			ETag:     rec.S3.Object.ETag,
			Decision: outcome.Failed,
			Reason:   fmt.Sprintf("gave up after %d invocations: %v", len(r.retryDelays)+1, lastErr),
		})
	}
}

// invoke calls the function once and returns its outcomes.
func (r *relay) invoke(ctx context.Context, payload []byte) ([]outcome.Record, error) {
	body, err := r.pool.Invoke(ctx, payload)
	if err != nil {
		return nil, err
	}
	var answer struct {
		Records json.RawMessage `json:"records"` // null when there were none
	}
	var outcomes []outcome.Record
	err = json.Unmarshal(body, &answer)
	if err == nil && answer.Records != nil {
		err = json.Unmarshal(answer.Records, &outcomes)
	}
	if err != nil || answer.Records == nil {
		return nil, fmt.Errorf("the function answered %q, not a Response with records", truncate(body, 200))
	}
	return outcomes, nil
}

// recordFailure appends the event to the failures file in the shape of
// Lambda's asynchronous on-failure destination record.
func (r *relay) recordFailure(payload []byte, condition string, attempts int, cause error) {
	response := FunctionError{Type: "Relay", Message: "not invoked"}
	if cause != nil {
		response.Message = cause.Error()
		var fe *FunctionError
		if errors.As(cause, &fe) {
			response = *fe
		}
	}
	record := map[string]any{
		"version":   "1.0",
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"requestContext": map[string]any{
			"requestId":              requestID(),
			"functionArn":            r.functionArn + ":$LATEST",
			"condition":              condition,
			"approximateInvokeCount": attempts,
		},
		"requestPayload":  json.RawMessage(payload),
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"responsePayload": response,
	}
	line, err := json.Marshal(record)
	if err == nil {
		err = r.appendFailure(append(line, '\n'))
	}
	if err != nil {
		r.logf("relay: could not record a failed event in %s: %v; the event was: %s", r.failures, err, payload)
		return
	}
	if attempts > 0 { // events never invoked are summed up by abandonQueued
		r.logf("relay: %s after %d invocation(s): %v; recorded in %s", condition, attempts, cause, r.failures)
	}
}

func (r *relay) appendFailure(line []byte) error {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	f, err := os.OpenFile(r.failures, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(line)
	return errors.Join(err, f.Close())
}

func (r *relay) abandonQueued() {
	for n := 0; ; n++ {
		select {
		case body := <-r.queue:
			r.recordFailure(lambdaPayload(body), "RelayShutdown", 0, nil)
		default:
			if n > 0 {
				r.logf("relay: stopped with %d event(s) not processed; recorded in %s", n, r.failures)
			}
			return
		}
	}
}

// lambdaPayload is the event as Lambda delivers it: MinIO wraps the records
// with EventName and Key, Lambda sends only the records.
func lambdaPayload(body []byte) []byte {
	var event struct {
		Records json.RawMessage `json:"Records"`
	}
	_ = json.Unmarshal(body, &event) // ServeHTTP accepted only S3 events
	payload, _ := json.Marshal(event)
	return payload
}

func eventKeys(event events.S3Event) string {
	var keys []string
	for _, rec := range event.Records {
		keys = append(keys, rec.S3.Bucket.Name+"/"+rec.S3.Object.URLDecodedKey)
	}
	return strings.Join(keys, ", ")
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
