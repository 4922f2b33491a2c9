// Package corpustest gives the test module's tests their images and the
// ImageMagick that makes and checks them: the shared corpus where it is
// present, generated images where it is not (and the test log says so).
package corpustest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/local"
)

// MagickPrefix is where `make magick` installs the project's ImageMagick 7:
// MAGICK_PREFIX, which make exports, or the prefix the layer's local.sh
// names. The test is skipped when ImageMagick is not built there.
func MagickPrefix(t testing.TB) string {
	t.Helper()
	prefix := os.Getenv("MAGICK_PREFIX")
	if prefix == "" {
		out, err := exec.Command("bash", filepath.Join(root(t), "layers", "imagemagick", "local.sh"), "prefix").Output()
		if err != nil {
			t.Fatalf("layers/imagemagick/local.sh prefix: %v", err)
		}
		prefix = strings.TrimSpace(string(out))
	}
	if err := exec.Command(filepath.Join(prefix, "bin", "magick"), "-version").Run(); err != nil {
		t.Skipf("ImageMagick 7 is not built at %s (make magick builds it): %v", prefix, err)
	}
	return prefix
}

// Magick is the magick command of MagickPrefix.
func Magick(t testing.TB) string {
	t.Helper()
	return filepath.Join(MagickPrefix(t), "bin", "magick")
}

// Images is the shared corpus or, where it is absent, Generated (generated
// is then true).
func Images(t testing.TB, magick string) (images []corpus.Image, generated bool) {
	t.Helper()
	dir := corpus.Dir(root(t))
	if _, err := os.Stat(dir); err != nil {
		t.Logf("shared corpus absent (%v): using images generated with ImageMagick's built-in patterns instead", err)
		return Generated(t, magick), true
	}
	images, err := corpus.Load(context.Background(), dir, magick)
	if err != nil {
		t.Fatal(err)
	}
	return images, false
}

// Generated is the stand-in corpus (corpus.Generate) in a temporary directory.
func Generated(t testing.TB, magick string) []corpus.Image {
	t.Helper()
	images, err := corpus.Generate(context.Background(), t.TempDir(), magick)
	if err != nil {
		t.Fatal(err)
	}
	return images
}

// Image renders `magick args... name` into a temporary directory and
// describes it, e.g. Image(t, magick, "logo.png", "logo:").
func Image(t testing.TB, magick, name string, args ...string) corpus.Image {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := corpus.Render(context.Background(), magick, path, args...); err != nil {
		t.Fatal(err)
	}
	im, err := corpus.Describe(context.Background(), path, magick)
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// Read returns an image's bytes.
func Read(t testing.TB, im corpus.Image) []byte {
	t.Helper()
	data, err := os.ReadFile(im.Path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func root(t testing.TB) string {
	t.Helper()
	dir, err := local.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
