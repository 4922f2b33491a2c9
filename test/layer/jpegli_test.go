package layer_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The build links ImageMagick against jpegli's libjpeg.so.62 (jpegli.sh), not the system's
// libjpeg-turbo: the loader must resolve libjpeg.so.62 inside the prefix.
func TestMagickLinksJpegli(t *testing.T) {
	prefix := magickPrefix(t)
	got := resolvedLibjpeg(t, filepath.Join(prefix, "bin", "magick"), nil)
	if want := filepath.Join(prefix, "lib", "libjpeg.so.62"); got != want {
		t.Fatalf("magick loads libjpeg.so.62 from %s, want jpegli's %s", got, want)
	}
	lib, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(lib), "jpegli") {
		t.Errorf("%s does not look like jpegli (no \"jpegli\" in it)", got)
	}
}

// loader is the dynamic loader of this machine, which `--list` turns into ldd.
func loader(t *testing.T) string {
	t.Helper()
	for _, l := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"} {
		if _, err := os.Stat(l); err == nil {
			return l
		}
	}
	t.Fatal("no dynamic loader found")
	return ""
}

// resolvedLibjpeg is the file the loader picks for an ELF's libjpeg.so.62 with env added.
func resolvedLibjpeg(t *testing.T, elf string, env []string) string {
	t.Helper()
	cmd := exec.Command(loader(t), "--list", elf)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --list %s: %v", loader(t), elf, err)
	}
	m := regexp.MustCompile(`(?m)^\s*libjpeg\.so\.62 => (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("%s does not load libjpeg.so.62:\n%s", elf, out)
	}
	return string(m[1])
}

// libjpegTurbo returns the environment that makes the same magick load the system's
// libjpeg-turbo instead of jpegli (LD_LIBRARY_PATH comes before the binary's RUNPATH), so
// the two decoders can be compared inside one ImageMagick build.
func libjpegTurbo(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("/sbin/ldconfig", "-p").Output()
	if err != nil {
		t.Fatalf("ldconfig -p: %v", err)
	}
	var system string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "libjpeg.so.62" && !strings.Contains(l, "i386") {
			system = f[len(f)-1]
			break
		}
	}
	if system == "" {
		t.Fatal("the system has no libjpeg.so.62 (libjpeg62-turbo) to compare jpegli with")
	}
	dir := t.TempDir()
	if err := os.Symlink(system, filepath.Join(dir, "libjpeg.so.62")); err != nil {
		t.Fatal(err)
	}
	env := []string{"LD_LIBRARY_PATH=" + dir}
	if got := resolvedLibjpeg(t, filepath.Join(prefix, "bin", "magick"), env); got != filepath.Join(dir, "libjpeg.so.62") {
		t.Fatalf("with %s, magick still loads %s", env[0], got)
	}
	return env
}

// magickEnv is magick (see policy_test.go) with extra environment.
func magickEnv(t *testing.T, prefix, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(prefix, "bin", "magick"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"MAGICK_CONFIGURE_PATH=", "HOME=" + t.TempDir()}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// metric is `magick compare -metric NAME a b` (PSNR: decibels).
func metric(t *testing.T, prefix, dir, name, a, b string) float64 {
	t.Helper()
	out, _ := magickEnv(t, prefix, dir, nil, "compare", "-metric", name, a, b, "null:")
	m := regexp.MustCompile(`^([0-9.e+-]+|inf)`).FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		t.Fatalf("magick compare -metric %s %s %s: %s", name, a, b, out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestJpegliDecodesLikeLibjpegTurbo decodes every JPEG of the corpus twice with the same
// magick: with jpegli (the build) and with libjpeg-turbo (swapped in by LD_LIBRARY_PATH).
// Both must refuse the same files and warn about the same files (the function rejects a
// JPEG a decoder warns about), and the pixels of those they accept must agree to within
// minPSNR. They are not equal within rounding: jpegli reconstructs the full-resolution
// components with dequantization biases (Price and Rabbani, lib/jpegli/render.cc) and a
// float IDCT, which moves pixels by up to tens of steps where quantization was coarse (the
// test logs each image's PSNR; layers/imagemagick/README.md has the peak differences). TestJpegliDecodesCloserToTheOriginal
// shows which of the two is nearer the truth.
func TestJpegliDecodesLikeLibjpegTurbo(t *testing.T) {
	const minPSNR = 38
	prefix := magickPrefix(t)
	turbo := libjpegTurbo(t, prefix)
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "..", "shared", "corpus", "*.jp*g"))
	if len(files) == 0 {
		files = generatedJPEGs(t, prefix, turbo)
		t.Logf("../shared/corpus absent: comparing %d JPEGs generated from ImageMagick patterns", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			dir := t.TempDir()
			outLi, errLi := magickEnv(t, prefix, dir, nil, f, "-depth", "8", "jpegli.tiff")
			outTu, errTu := magickEnv(t, prefix, dir, turbo, f, "-depth", "8", "turbo.tiff")
			switch {
			case errLi != nil && errTu != nil:
				t.Logf("both refuse it: jpegli %q; libjpeg-turbo %q", strings.TrimSpace(outLi), strings.TrimSpace(outTu))
				return
			case errLi != nil || errTu != nil:
				t.Fatalf("only one decoder refuses it: jpegli err=%v %q; libjpeg-turbo err=%v %q", errLi, outLi, errTu, outTu)
			}
			if (outLi == "") != (outTu == "") {
				t.Errorf("only one decoder warns: jpegli %q; libjpeg-turbo %q", outLi, outTu)
			}
			psnr := metric(t, prefix, dir, "PSNR", "jpegli.tiff", "turbo.tiff")
			t.Logf("jpegli vs libjpeg-turbo: PSNR %.1f dB", psnr)
			if psnr < minPSNR {
				t.Errorf("jpegli's pixels differ from libjpeg-turbo's at %.1f dB PSNR, want at least %d", psnr, minPSNR)
			}
		})
	}
}

// generatedJPEGs are JPEGs libjpeg-turbo wrote from ImageMagick's patterns.
func generatedJPEGs(t *testing.T, prefix string, turbo []string) []string {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for _, spec := range []string{"plasma:fractal", "gradient:red-blue"} {
		f := filepath.Join(dir, strings.NewReplacer(":", "-").Replace(spec)+".jpg")
		if out, err := magickEnv(t, prefix, dir, turbo, "-size", "640x480", "-seed", "1", spec, "-quality", "75", f); err != nil {
			t.Fatalf("writing %s: %v %s", f, err, out)
		}
		files = append(files, f)
	}
	return files
}

// TestJpegliDecodesCloserToTheOriginal: for lossless originals encoded to JPEG by
// libjpeg-turbo at several qualities, jpegli's decode is at least as close to the original
// as libjpeg-turbo's own (measured here: 0.16 to 0.54 dB closer on Kodak photos).
func TestJpegliDecodesCloserToTheOriginal(t *testing.T) {
	prefix := magickPrefix(t)
	turbo := libjpegTurbo(t, prefix)
	// Three photos and three qualities: enough to show the direction, cheap enough for make unit.
	originals, _ := filepath.Glob(filepath.Join(repoRoot(t), "..", "shared", "corpus", "kodak_kodim0[1-5].png"))
	if len(originals) == 0 {
		dir := t.TempDir()
		f := filepath.Join(dir, "plasma.png")
		mustMagick(t, prefix, dir, "-size", "768x512", "-seed", "1", "plasma:fractal", f)
		originals = []string{f}
		t.Logf("../shared/corpus absent: using %s", f)
	}
	for _, orig := range originals {
		for _, q := range []string{"50", "75", "90"} {
			t.Run(filepath.Base(orig)+"/q"+q, func(t *testing.T) {
				dir := t.TempDir()
				if out, err := magickEnv(t, prefix, dir, turbo, orig, "-quality", q, "-sampling-factor", "4:2:0", "turbo.jpg"); err != nil {
					t.Fatalf("libjpeg-turbo encode: %v %s", err, out)
				}
				if out, err := magickEnv(t, prefix, dir, nil, "turbo.jpg", "-depth", "8", "jpegli.png"); err != nil {
					t.Fatalf("jpegli decode: %v %s", err, out)
				}
				if out, err := magickEnv(t, prefix, dir, turbo, "turbo.jpg", "-depth", "8", "turbo.png"); err != nil {
					t.Fatalf("libjpeg-turbo decode: %v %s", err, out)
				}
				li, tu := metric(t, prefix, dir, "PSNR", orig, "jpegli.png"), metric(t, prefix, dir, "PSNR", orig, "turbo.png")
				t.Logf("PSNR against the original: jpegli %.2f dB, libjpeg-turbo %.2f dB", li, tu)
				if li < tu-0.05 {
					t.Errorf("jpegli's decode is %.2f dB further from the original than libjpeg-turbo's", tu-li)
				}
			})
		}
	}
}

// TestJpegliEncodes: the build writes JPEGs with jpegli that libjpeg-turbo decodes, close
// to the source.
func TestJpegliEncodes(t *testing.T) {
	prefix := magickPrefix(t)
	turbo := libjpegTurbo(t, prefix)
	dir := t.TempDir()
	mustMagick(t, prefix, dir, "-size", "640x480", "plasma:fractal", "-seed", "1", "source.png")
	mustMagick(t, prefix, dir, "source.png", "-quality", "85", "-sampling-factor", "4:2:0", "-interlace", "JPEG", "jpegli.jpg")
	if out, err := magickEnv(t, prefix, dir, turbo, "jpegli.jpg", "decoded.png"); err != nil || out != "" {
		t.Fatalf("libjpeg-turbo cannot read jpegli's JPEG cleanly: %v %s", err, out)
	}
	psnr := metric(t, prefix, dir, "PSNR", "source.png", "decoded.png")
	if psnr < 30 {
		t.Errorf("jpegli's quality-85 JPEG decodes at %.1f dB PSNR, want at least 30", psnr)
	}
	t.Logf("jpegli quality 85, decoded by libjpeg-turbo: %.1f dB PSNR", psnr)
}
