package faults

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The S3 errors S3Errors answers with.
const (
	SlowDown = "slowdown" // 503 SlowDown before the request reaches S3
	Internal = "internal" // 500 InternalError before the request reaches S3
	// InternalAfter is a 500 InternalError for a write or delete that S3
	// carried out: the caller cannot tell it from one that did not happen.
	InternalAfter = "internal-after-write"
)

// S3Errors is a reverse proxy to an S3 endpoint that answers a share of the
// requests with the errors S3 gives under load, the way S3 words them.
type S3Errors struct {
	target   *url.URL
	proxy    *httputil.ReverseProxy
	server   *http.Server
	listener net.Listener

	mu     sync.Mutex
	rate   float64
	kinds  []string // nil: every kind that fits the request
	rng    *rand.Rand
	counts Counts
}

// StartS3Errors serves on a free 127.0.0.1 port, forwarding to upstream
// (http://host:port); it injects nothing until Set.
func StartS3Errors(upstream string) (*S3Errors, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &S3Errors{
		target:   target,
		listener: ln,
		rng:      rand.New(rand.NewPCG(rand.Uint64(), 2)),
		counts:   Counts{},
	}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // the request is signed for the host the client called
		},
		// S3 down (restarting) is answered 502 Bad Gateway, as a load
		// balancer in front of it would; nothing to log.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	s.server = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.server.Serve(ln) }()
	return s, nil
}

// URL is where clients send their S3 requests.
func (s *S3Errors) URL() string { return "http://" + s.listener.Addr().String() }

// Set makes rate of the requests (0 to 1) fail with one of kinds (SlowDown,
// Internal, InternalAfter; none: any that fits the request).
func (s *S3Errors) Set(rate float64, kinds ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate, s.kinds = rate, kinds
}

// Counts returns the errors answered so far.
func (s *S3Errors) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clone(s.counts)
}

// Close stops serving.
func (s *S3Errors) Close() { _ = s.server.Close() }

func (s *S3Errors) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := s.pick(r)
	switch kind {
	case "":
		s.proxy.ServeHTTP(w, r)
	case InternalAfter:
		s.forwardThenFail(w, r)
	case SlowDown:
		writeError(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	default:
		writeError(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	}
}

// pick decides the fate of one request: "" forwards it.
func (s *S3Errors) pick(r *http.Request) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rng.Float64() >= s.rate {
		return ""
	}
	write := r.Method == http.MethodPut || r.Method == http.MethodDelete || r.Method == http.MethodPost
	allowed := s.kinds
	if allowed == nil {
		allowed = []string{SlowDown, SlowDown, Internal, InternalAfter}
	}
	var kinds []string
	for _, k := range allowed {
		if k != InternalAfter || write {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return ""
	}
	kind := kinds[s.rng.IntN(len(kinds))]
	s.counts[kind]++
	return kind
}

func (s *S3Errors) forwardThenFail(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = s.target.Scheme, s.target.Host
	out.Host = r.Host
	if resp, err := http.DefaultTransport.RoundTrip(out); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	// Whatever S3 answered, the client hears that the request failed.
	writeError(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
}

// writeError answers as S3 does: an XML error document (none for HEAD).
func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	id := fmt.Sprintf("FAULT%012X", rand.Int64N(1<<48))
	w.Header().Set("x-amz-request-id", id)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		fmt.Sprintf(`<Error><Code>%s</Code><Message>%s</Message><Resource>%s</Resource><RequestId>%s</RequestId></Error>`,
			code, message, xmlEscape(r.URL.Path), id))
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }
