package local

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Tool is a Go program the local pipeline runs, pinned to one version and
// installed with `go install` into the shared cache, outside the repository.
type Tool struct {
	Name    string // human name, for progress lines
	Package string // what `go install` builds
	Version string // from tools.env
	Binary  string
	// Estimate is how long a first build takes here, so a waiting user knows
	// it is not stuck.
	Estimate string
}

// The tools the local stack runs.
var (
	MinIO = Tool{
		Name:     "MinIO",
		Package:  "github.com/minio/minio",
		Version:  pin("MINIO_VERSION"),
		Binary:   "minio",
		Estimate: "~8 min",
	}
	RIE = Tool{
		Name:     "aws-lambda-rie",
		Package:  "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie",
		Version:  pin("RIE_VERSION"),
		Binary:   "aws-lambda-rie",
		Estimate: "~1 min",
	}
)

// pins is the one place tool versions are written, shared with the Makefile.
//
//go:embed tools.env
var pins string

// pin is the value of a NAME=value line of tools.env; a missing name is a
// mistake in this file, caught by the first test that loads the package.
func pin(name string) string {
	for _, line := range strings.Split(pins, "\n") {
		if value, ok := strings.CutPrefix(line, name+"="); ok {
			return strings.TrimSpace(value)
		}
	}
	panic("tools.env pins no " + name)
}

// CacheDir is the root of the build caches shared by the Makefile, the layer's
// local.sh and this package.
func CacheDir() (string, error) {
	if dir := os.Getenv("S3IC_CACHE"); dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cache directory: set S3IC_CACHE or HOME: %w", err)
	}
	return filepath.Join(home, ".cache", "s3-image-compressor"), nil
}

// Path is where the tool's binary lives in the cache, installed or not.
func (t Tool) Path() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "tools", t.Binary+"-"+t.Version, t.Binary), nil
}

// Ensure installs the tool into the cache unless it is there, links it into
// root/.bin (gitignored) so a developer can run it by hand, and returns the
// cached binary's path. A first build can take minutes: it says so on progress
// and keeps saying it is still running.
func (t Tool) Ensure(ctx context.Context, root string, progress io.Writer) (string, error) {
	bin, err := t.Path()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
		if err := t.install(ctx, bin, progress); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	if err := linkInto(filepath.Join(root, ".bin"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

func (t Tool) install(ctx context.Context, bin string, progress io.Writer) error {
	dir := filepath.Dir(bin)
	// go install writes into a staging directory that is renamed at the end, so
	// an interrupted build never leaves a binary that looks installed.
	staging := fmt.Sprintf("%s.tmp-%d", dir, os.Getpid())
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(staging) }()
	logPath := staging + ".log"
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()

	say(progress, "building %s %s (first time, %s; log: %s)...", t.Name, t.Version, t.Estimate, logPath)
	cmd := exec.CommandContext(ctx, "go", "install", t.Package+"@"+t.Version)
	// GOWORK=off: a pinned `go install pkg@version` must not see this workspace.
	cmd.Env = append(os.Environ(), "GOBIN="+staging, "GOWORK=off", "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	err = runWithHeartbeat(cmd, func(elapsed time.Duration) {
		say(progress, "  still building %s (%s)...", t.Name, elapsed.Round(time.Second))
	})
	if err != nil {
		return fmt.Errorf("go install %s@%s failed: %w (log: %s)", t.Package, t.Version, err, logPath)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Rename(staging, dir); err != nil {
		// A concurrent install may have won the race; its binary is as good.
		if _, statErr := os.Stat(bin); statErr != nil {
			return fmt.Errorf("install %s into %s: %w", t.Name, dir, err)
		}
	}
	_ = os.Remove(logPath) // the staging directory is gone; only a failed build keeps its log
	say(progress, "built %s in %s: %s", t.Name, time.Since(start).Round(time.Second), bin)
	return nil
}

// runWithHeartbeat runs cmd and calls beat every 30 s until it ends.
func runWithHeartbeat(cmd *exec.Cmd, beat func(elapsed time.Duration)) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	start := time.Now()
	ticker := time.NewTicker(30 * time.Second)
	defer ticker.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-ticker.C:
			beat(time.Since(start))
		}
	}
}

// linkInto makes dir/<name of target> a symlink to target, replacing a stale one.
func linkInto(dir, target string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	link := filepath.Join(dir, filepath.Base(target))
	if current, err := os.Readlink(link); err == nil && current == target {
		return nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", link, os.Getpid())
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// say writes one progress line; progress is a terminal or a test log, where a
// failed write has nobody to report to.
func say(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format+"\n", args...) }
