package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Binaries are the programs a Stack runs.
type Binaries struct {
	MinIO, RIE string
	Bootstrap  string // the function, built from this checkout
	// MagickPrefix is the ImageMagick 7 build the bootstrap links; its
	// bin/magick also checks outputs in tests.
	MagickPrefix string
}

// Magick is the ImageMagick command line of the build the function links.
func (b Binaries) Magick() string { return filepath.Join(b.MagickPrefix, "bin", "magick") }

// FindRoot returns the repository root: the nearest directory at or above dir
// holding go.work.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.work at or above %s: run from inside the s3-image-compressor checkout", dir)
		}
	}
}

// Prepare installs or builds whatever is missing (MinIO, the runtime
// emulator, ImageMagick) and builds the bootstrap from the checkout into
// binDir, reporting long steps on progress.
func Prepare(ctx context.Context, root, binDir string, progress io.Writer) (Binaries, error) {
	var b Binaries
	var err error
	if b.MinIO, err = MinIO.Ensure(ctx, root, progress); err != nil {
		return b, err
	}
	if b.RIE, err = RIE.Ensure(ctx, root, progress); err != nil {
		return b, err
	}
	if b.MagickPrefix, err = EnsureMagick(ctx, root, progress); err != nil {
		return b, err
	}
	b.Bootstrap = filepath.Join(binDir, "bootstrap")
	if err := BuildBootstrap(ctx, root, b.MagickPrefix, b.Bootstrap); err != nil {
		return b, err
	}
	return b, nil
}

// EnsureMagick returns the ImageMagick 7 prefix of this checkout's layer
// definition, building it with the layer's own local.sh when it is missing.
func EnsureMagick(ctx context.Context, root string, progress io.Writer) (string, error) {
	script := filepath.Join(root, "layers", "imagemagick", "local.sh")
	out, err := exec.CommandContext(ctx, "bash", script, "prefix").Output()
	if err != nil {
		return "", fmt.Errorf("%s prefix: %w", script, commandError(err))
	}
	prefix := strings.TrimSpace(string(out))
	if magickWorks(ctx, prefix) == nil {
		return prefix, nil
	}
	say(progress, "building ImageMagick 7 into %s (first time: about 3 CPU-minutes, more on a busy machine)...", prefix)
	cmd := exec.CommandContext(ctx, "bash", script, "build")
	cmd.Stdout, cmd.Stderr = io.Discard, progress // its step lines go to stderr
	err = runWithHeartbeat(cmd, func(elapsed time.Duration) {
		say(progress, "  still building ImageMagick (%s)...", elapsed.Round(time.Second))
	})
	if err != nil {
		return "", fmt.Errorf("building ImageMagick with %s build: %w", script, err)
	}
	if err := magickWorks(ctx, prefix); err != nil {
		return "", fmt.Errorf("ImageMagick was built but %w", err)
	}
	return prefix, nil
}

func magickWorks(ctx context.Context, prefix string) error {
	magick := filepath.Join(prefix, "bin", "magick")
	if err := exec.CommandContext(ctx, magick, "-version").Run(); err != nil {
		return fmt.Errorf("%s -version fails: %w", magick, err)
	}
	return nil
}

// BuildBootstrap builds the function's Lambda entry point the way the layer
// image does (-tags lambda.norpc), linked against the ImageMagick at prefix.
// Go's build cache makes an unchanged rebuild take a second or two.
func BuildBootstrap(ctx context.Context, root, magickPrefix, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", out, "./cmd/bootstrap")
	cmd.Dir = filepath.Join(root, "function")
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=1",
		"PKG_CONFIG_PATH="+filepath.Join(magickPrefix, "lib", "pkgconfig"),
		// The rpath lets the binary find libMagickWand without LD_LIBRARY_PATH;
		// being in CGO_LDFLAGS also keys Go's build cache on the prefix.
		"CGO_LDFLAGS=-Wl,-rpath,"+filepath.Join(magickPrefix, "lib"),
	)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the bootstrap (cd function && go build -tags lambda.norpc ./cmd/bootstrap): %w\n%s", err, output)
	}
	return nil
}

// commandError adds a failed command's stderr to its error.
func commandError(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(exit.Stderr)))
	}
	return err
}
