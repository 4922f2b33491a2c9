// Command local runs the whole pipeline on this machine (MinIO, the relay, the
// real bootstrap under the Lambda runtime interface emulator).
//
//	local                 start it, serve the viewer page and stream one line per processed image until Ctrl-C (make local)
//	local -demo [-images DIR]
//	                      upload a folder of images, wait for every outcome, summarise, stop (make demo);
//	                      without -config, three outputs per upload (local.Renditions)
//	local -backfill-demo [-images DIR]
//	                      upload a folder with notifications off, backfill it twice with S3 Batch Operations' local stand-in, stop (make backfill-demo)
//	local -tools          only install the pinned MinIO and emulator into the cache and .bin/
//
// What is missing (MinIO, the emulator, ImageMagick) is built first; that
// takes minutes once and seconds afterwards.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
	"github.com/s3-image-compressor/s3-image-compressor/test/viewer"
)

func main() {
	var (
		demo         = flag.Bool("demo", false, "upload every image of -images, wait for the outcomes, print a summary and stop")
		backfillDemo = flag.Bool("backfill-demo", false, "upload every image of -images without notifications, backfill them twice, summarise, stop")
		images       = flag.String("images", "", "with -demo or -backfill-demo: the folder to upload (default: sample images generated into .local/samples)")
		toolsOnly    = flag.Bool("tools", false, "install MinIO and the runtime emulator, then exit")
		configFile   = flag.String("config", "", "compressor settings (JSON, as in cdk.json); default: the built-in defaults, with -demo the renditions example (original, WebP and AVIF at 640 px, mirrored deletes)")
		port         = flag.Int("port", 9000, "MinIO's port on 127.0.0.1 (0: any free port; -demo always uses a free one)")
		viewerPort   = flag.Int("viewer-port", 9090, "the viewer page's port on 127.0.0.1 (0: any free port)")
		stateDir     = flag.String("state", "", "state directory (default: .local in the repository)")
		timeout      = flag.Duration("timeout", 10*time.Minute, "with -demo: how long to wait for all outcomes")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, runOptions{*demo, *backfillDemo, *images, *toolsOnly, *configFile, *port, *viewerPort, *stateDir, *timeout}); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

type runOptions struct {
	demo       bool
	backfill   bool
	images     string
	toolsOnly  bool
	configFile string
	port       int
	viewerPort int
	stateDir   string
	timeout    time.Duration
}

func run(ctx context.Context, o runOptions) error {
	root, err := local.FindRoot(".")
	if err != nil {
		return err
	}
	if o.toolsOnly {
		for _, tool := range []local.Tool{local.MinIO, local.RIE} {
			path, err := tool.Ensure(ctx, root, os.Stderr)
			if err != nil {
				return err
			}
			fmt.Printf("%s: %s\n", tool.Name, path)
		}
		return nil
	}
	settings, err := readSettings(o.configFile)
	if err != nil {
		return err
	}
	state := o.stateDir
	if state == "" {
		state = filepath.Join(root, ".local")
	}
	if state, err = filepath.Abs(state); err != nil {
		return err
	}
	bins, err := local.Prepare(ctx, root, filepath.Join(state, "bin"), os.Stderr)
	if err != nil {
		return err
	}
	switch {
	case o.demo:
		if o.configFile == "" {
			var avifMissing error
			settings, avifMissing = local.Renditions(ctx, bins)
			if avifMissing != nil {
				fmt.Printf("no AVIF output: %v\n", avifMissing)
			}
		}
		return runDemo(ctx, root, state, bins, settings, o.images, o.timeout)
	case o.backfill:
		return runBackfillDemo(ctx, root, state, bins, settings, o.images)
	}
	return runLocal(ctx, root, state, bins, settings, o.port, o.viewerPort)
}

func readSettings(file string) (config.Settings, error) {
	if file == "" {
		return config.Default(), nil
	}
	doc, err := os.ReadFile(file)
	if err != nil {
		return config.Settings{}, err
	}
	s, err := config.Parse(doc)
	if err != nil {
		return config.Settings{}, fmt.Errorf("%s: %w", file, err)
	}
	return s, nil
}

// runLocal is `make local`: the stack on a fixed port with data kept in the
// state directory, and the viewer page, until Ctrl-C.
func runLocal(ctx context.Context, root, state string, bins local.Binaries, settings config.Settings, port, viewerPort int) error {
	// Listening first: a taken port fails before the stack starts.
	viewerLn, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(viewerPort)))
	if err != nil {
		return fmt.Errorf("the viewer's port: %w: stop what uses it or choose another with -viewer-port", err)
	}
	feed := viewer.NewFeed()
	stack, err := local.Start(ctx, local.Options{
		Binaries: bins,
		StateDir: state,
		Settings: settings,
		Port:     port,
		Log:      os.Stderr,
		OnOutcome: func(o outcome.Record) {
			fmt.Printf("%s %s\n", time.Now().Format("15:04:05"), local.Line(o))
			feed.Publish(o)
		},
	})
	if err != nil {
		_ = viewerLn.Close()
		return err
	}
	defer stack.Close()
	served := make(chan error, 1)
	go func() {
		served <- viewer.Serve(ctx, viewerLn, viewer.Options{Feed: feed, S3: stack.S3,
			SourceBucket: stack.SourceBucket, DestinationBucket: stack.DestinationBucket,
			Settings: stack.Settings, Magick: bins.Magick(), Log: os.Stderr})
	}()
	printBanner(root, stack, "http://"+viewerLn.Addr().String()+"/")
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("viewer: %w", err)
	}
	fmt.Fprintln(os.Stderr, "\nstopping (data stays in", rel(root, filepath.Join(state, "minio"))+")")
	return nil
}

func printBanner(root string, s *local.Stack, viewerURL string) {
	creds := fmt.Sprintf("AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=%s", s.AccessKey, s.SecretKey, local.Region)
	fmt.Printf(`
The local pipeline is running (Ctrl-C stops it).

  viewer        %s   (open it in a browser: upload images, compare originals and outputs)
  S3 endpoint   %s   (MinIO)
  credentials   %s
  source        s3://%s/%s   suffixes: %s
  destination   s3://%s/%s
  outputs       %s%s
  logs          %s, %s
  failures      %s

Upload an image:
  %s aws s3 cp photo.jpg s3://%s/%s --endpoint-url %s
See the outputs:
  %s aws s3 ls --recursive s3://%s/%s --endpoint-url %s
Backfill what is already in the source bucket (make build first):
  bin/backfill -local -state %s -yes -wait

One line per processed image:
`,
		viewerURL, s.Endpoint, creds,
		s.SourceBucket, s.Settings.SourcePrefix, strings.Join(s.Settings.Suffixes, " "),
		s.DestinationBucket, s.Settings.DestinationPrefix,
		outputNames(s.Settings), deletes(s.Settings),
		rel(root, filepath.Join(s.LogDir, "minio.log")), rel(root, filepath.Join(s.LogDir, "function-*.log")),
		rel(root, s.FailuresFile),
		creds, s.SourceBucket, s.Settings.SourcePrefix, s.Endpoint,
		creds, s.DestinationBucket, s.Settings.DestinationPrefix, s.Endpoint,
		rel(root, filepath.Dir(s.BackfillFile)))
}

// outputNames lists the outputs an upload gets.
func outputNames(s config.Settings) string {
	var names []string
	for _, o := range s.Outputs {
		names = append(names, o.Name())
	}
	return strings.Join(names, ", ")
}

func deletes(s config.Settings) string {
	if s.MirrorDeletes {
		return "   (deleting an upload deletes its outputs)"
	}
	return ""
}

// rel shortens paths inside the repository for printing.
func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
