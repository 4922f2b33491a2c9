// Package viewer is the local page of `make local`: upload images to the
// local source bucket, watch the function's outcomes arrive, and compare each
// original with its outputs. The page and its assets are embedded (it works
// offline); uploads go from the browser straight to S3 with presigned PUTs;
// outcomes are pushed with server-sent events; the destination's existing
// outputs are listed page by page, so a restart keeps the history.
package viewer

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
)

//go:embed static
var static embed.FS

// Options configure the viewer.
type Options struct {
	Feed              *Feed      // the outcomes to show as they arrive
	S3                *s3.Client // the local stack's client
	SourceBucket      string
	DestinationBucket string
	Settings          config.Settings
	// Magick is ImageMagick's command line (the build the function links).
	// It renders a PNG of an image the browser cannot show (TIFF, HEIC), so
	// such an original can still be compared. Empty: no such previews.
	Magick string
	// Log receives what the viewer could not do (an S3 lookup that failed);
	// nil discards.
	Log io.Writer
}

// uploadURLLifetime is how long a presigned upload URL works: long enough
// for a large file over a slow link, short enough not to linger.
const uploadURLLifetime = 15 * time.Minute

// Serve runs the viewer on ln until ctx ends. It answers only requests
// addressed to ln's own host and port: a page on another site cannot reach
// it through a DNS name that resolves to 127.0.0.1.
func Serve(ctx context.Context, ln net.Listener, o Options) error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	v := &server{
		o:        o,
		d:        describer{s3: o.S3, source: o.SourceBucket, destBucket: o.DestinationBucket, destination: storage.NewDestination(o.S3, o.DestinationBucket)},
		presign:  s3.NewPresignClient(o.S3),
		hub:      newHub(),
		previews: make(chan struct{}, parallelPreviews),
	}
	srv := &http.Server{
		Handler:           onlyHosts(hostsOf(ln.Addr()), v.routes()),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go v.publish(ctx)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		v.hub.close() // event streams never end by themselves
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type server struct {
	o        Options
	d        describer
	presign  *s3.PresignClient
	hub      *hub
	previews chan struct{} // a token per ImageMagick running
}

// parallelPreviews bounds the ImageMagick processes rendering previews.
const parallelPreviews = 2

func (v *server) routes() http.Handler {
	assets, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", noCache(http.FileServerFS(assets)))
	mux.HandleFunc("GET /api/config", v.config)
	mux.HandleFunc("POST /api/uploads", v.upload)
	mux.HandleFunc("GET /api/events", v.events)
	mux.HandleFunc("GET /api/history", v.history)
	mux.HandleFunc("GET /object/source", v.object(v.o.SourceBucket, v.o.Settings.SourcePrefix))
	mux.HandleFunc("GET /object/destination", v.object(v.o.DestinationBucket, v.o.Settings.DestinationPrefix))
	return mux
}

// publish turns the feed's outcomes into records, in the order they came.
func (v *server) publish(ctx context.Context) {
	for {
		batch, ok := v.o.Feed.take(ctx.Done())
		if !ok {
			return
		}
		for _, o := range batch {
			r := v.d.fromOutcome(ctx, o, time.Now())
			if r.Problem != "" {
				fmt.Fprintf(v.o.Log, "viewer: %s: %s\n", r.Key, r.Problem)
			}
			v.hub.add(r)
		}
	}
}

// Config is what the page shows about the stack.
type Config struct {
	SourceBucket      string   `json:"sourceBucket"`
	SourcePrefix      string   `json:"sourcePrefix"`
	DestinationBucket string   `json:"destinationBucket"`
	DestinationPrefix string   `json:"destinationPrefix"`
	Suffixes          []string `json:"suffixes"`
}

func (v *server) config(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Config{
		SourceBucket: v.o.SourceBucket, SourcePrefix: v.o.Settings.SourcePrefix,
		DestinationBucket: v.o.DestinationBucket, DestinationPrefix: v.o.Settings.DestinationPrefix,
		Suffixes: v.o.Settings.Suffixes,
	})
}

// UploadRequest names a file the page is about to upload.
type UploadRequest struct {
	Name string `json:"name"`
}

// Upload is where the page PUTs the file: a presigned S3 URL, so the bytes
// go to MinIO through the S3 API as any client's would.
type Upload struct {
	Key string `json:"key"`
	URL string `json:"url"`
}

func (v *server) upload(w http.ResponseWriter, r *http.Request) {
	var req UploadRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "the body must be JSON {\"name\": FILE NAME}: "+err.Error())
		return
	}
	if req.Name == "" || strings.ContainsAny(req.Name, "/\\") {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a file name", req.Name))
		return
	}
	key := v.o.Settings.SourcePrefix + req.Name
	if !v.o.Settings.Matches(key) {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf(
			"%s: no notification rule matches it, so the function would never see it (suffixes: %s)",
			req.Name, strings.Join(v.o.Settings.Suffixes, " ")))
		return
	}
	signed, err := v.presign.PresignPutObject(r.Context(),
		&s3.PutObjectInput{Bucket: aws.String(v.o.SourceBucket), Key: aws.String(key)},
		s3.WithPresignExpires(uploadURLLifetime))
	if err != nil {
		writeError(w, http.StatusBadGateway, "presign the upload: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, Upload{Key: key, URL: signed.URL})
}

func (v *server) history(w http.ResponseWriter, r *http.Request) {
	page, err := v.d.history(r.Context(), v.o.Settings.DestinationPrefix, r.URL.Query().Get("next"))
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// object streams an image from bucket to the page, or with as=png a PNG
// rendering of it; keys outside prefix are not the viewer's business. A
// repeated request for the object itself revalidates by ETag.
func (v *server) object(bucket, prefix string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		if !strings.HasPrefix(key, prefix) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("%q is outside s3://%s/%s", key, bucket, prefix))
			return
		}
		preview := r.URL.Query().Get("as") == "png"
		if preview && v.o.Magick == "" {
			writeError(w, http.StatusNotFound, "no ImageMagick to render previews with")
			return
		}
		in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
		if tag := r.Header.Get("If-None-Match"); tag != "" && !preview {
			in.IfNoneMatch = &tag
		}
		got, err := v.o.S3.GetObject(r.Context(), in)
		if err != nil {
			var status interface{ HTTPStatusCode() int }
			switch {
			case errors.As(err, &status) && status.HTTPStatusCode() == http.StatusNotModified:
				w.WriteHeader(http.StatusNotModified)
			case errors.As(err, &status) && status.HTTPStatusCode() == http.StatusNotFound:
				writeError(w, http.StatusNotFound, err.Error())
			default:
				writeError(w, http.StatusBadGateway, err.Error())
			}
			return
		}
		defer func() { _ = got.Body.Close() }()
		if preview {
			v.renderPNG(w, r, got.Body)
			return
		}
		h := w.Header()
		h.Set("Content-Type", aws.ToString(got.ContentType))
		h.Set("ETag", aws.ToString(got.ETag))
		h.Set("Cache-Control", "no-cache") // keys get overwritten: always revalidate
		h.Set("X-Content-Type-Options", "nosniff")
		if got.ContentLength != nil {
			h.Set("Content-Length", fmt.Sprint(*got.ContentLength))
		}
		if _, err := io.Copy(w, got.Body); err != nil {
			fmt.Fprintf(v.o.Log, "viewer: sending s3://%s/%s: %v\n", bucket, key, err)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // the client went away: nobody to tell
}

// writeError answers {"error": message}: the page shows the message as is.
func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}

// noCache makes the browser revalidate the page's files, so a rebuilt
// viewer is never shown with the previous build's script.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// hostsOf lists the Host headers that address the listener: its IP and
// port, and localhost with the port when it listens on a loopback address.
func hostsOf(addr net.Addr) map[string]bool {
	hosts := map[string]bool{addr.String(): true}
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		hosts[net.JoinHostPort("localhost", fmt.Sprint(tcp.Port))] = true
	}
	return hosts
}

func onlyHosts(hosts map[string]bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hosts[r.Host] {
			http.Error(w, "this viewer answers only to its own address", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}
