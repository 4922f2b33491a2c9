package layer_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// magickPrefix returns the local ImageMagick build: $MAGICK_PREFIX (set by the Makefile) or
// what `local.sh prefix` prints. Its absence is a failure, not a skip: the policy tests are
// the proof that the policy works, and `make test` builds the prefix first.
func magickPrefix(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	prefix := os.Getenv("MAGICK_PREFIX")
	if prefix == "" {
		out, err := exec.Command(filepath.Join(root, layerDir, "local.sh"), "prefix").Output()
		if err != nil {
			t.Fatalf("%s/local.sh prefix: %v", layerDir, err)
		}
		prefix = strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(filepath.Join(prefix, "bin", "magick")); err != nil {
		t.Fatalf("ImageMagick 7 is not built at %s: run `make magick` (or %s/local.sh build) first", prefix, layerDir)
	}
	return prefix
}

// magick runs the local build's magick in dir with a clean configuration environment, so
// nothing but the compiled-in path can contribute a policy.
func magick(t *testing.T, prefix, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(prefix, "bin", "magick"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MAGICK_CONFIGURE_PATH=", "HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func mustMagick(t *testing.T, prefix, dir string, args ...string) string {
	t.Helper()
	out, stderr, err := magick(t, prefix, dir, args...)
	if err != nil {
		t.Fatalf("magick %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

func TestBuildFeatures(t *testing.T) {
	prefix := magickPrefix(t)
	version := mustMagick(t, prefix, t.TempDir(), "-version")
	if !strings.Contains(version, " Q8 ") || strings.Contains(version, "HDRI") {
		t.Errorf("expected a Q8 build without HDRI (4 bytes per RGBA pixel, what a 256 MB function affords), got:\n%s", version)
	}
	_, delegates, _ := strings.Cut(version, "Delegates (built-in):")
	delegates, _, _ = strings.Cut(delegates, "\n")
	have := strings.Fields(delegates)
	for _, d := range []string{"heic", "jpeg", "lcms", "png", "tiff", "webp", "zlib"} {
		if !contains(have, d) {
			t.Errorf("expected delegate %s, built-in delegates are %q", d, have)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPolicyIsTheProjectsFile: the only policy in force is layers/imagemagick/policy.xml,
// from the compiled-in path (a policy found later on the configure path would be merged
// after it and could loosen it).
func TestPolicyIsTheProjectsFile(t *testing.T) {
	prefix := magickPrefix(t)
	installed := filepath.Join(prefix, "etc", "ImageMagick-7", "policy.xml")
	want := readFile(t, repoRoot(t), layerDir+"/policy.xml")
	got, err := os.ReadFile(installed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s/policy.xml: rebuild with %s/local.sh build", installed, layerDir, layerDir)
	}
	list := mustMagick(t, prefix, t.TempDir(), "-list", "policy")
	var paths []string
	for _, line := range strings.Split(list, "\n") {
		if p, ok := strings.CutPrefix(line, "Path: "); ok && p != "[built-in]" {
			paths = append(paths, p)
		}
	}
	if len(paths) != 1 || paths[0] != installed {
		t.Errorf("expected magick -list policy to show only %s, got %q", installed, paths)
	}
}

// Payloads that abuse ImageMagick's format detection, each named .png as an upload would be.
var payloads = []struct {
	name, content string
	// also read with an explicit format prefix, e.g. "svg:", which bypasses detection
	prefix string
}{
	{"mvg", "push graphic-context\nviewbox 0 0 64 64\nimage over 0,0 0,0 'https://127.0.0.1/x.png'\nfill red\nrectangle 0 0 64 64\npop graphic-context\n", "mvg"},
	{"svg", `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64"><image xlink:href="text:/etc/passwd" width="64" height="64"/></svg>` + "\n", "svg"},
	{"ps", "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nnewpath 0 0 moveto 64 0 lineto 64 64 lineto closepath fill showpage\n", "ps"},
	{"eps", "%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nshowpage\n", "eps"},
	{"pdf", "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n", "pdf"},
	{"msl", `<?xml version="1.0" encoding="UTF-8"?>` + "\n<image><read filename=\"logo:\"/><write filename=\"msl-wrote.png\"/></image>\n", "msl"},
	{"text", "/etc/passwd\n", "text"},
	{"ephemeral", "anything\n", "ephemeral"},
}

// TestPolicyRefusesDisguisedPayloads reads each payload as an upload would arrive (.png), with
// an explicit format prefix, and under its own extension. The last is recognised as its
// format, so its refusal must come from the policy: that shows the policy, not a broken
// payload, is what stops it.
func TestPolicyRefusesDisguisedPayloads(t *testing.T) {
	prefix := magickPrefix(t)
	for _, p := range payloads {
		native := p.name + "." + p.prefix
		for _, input := range []string{p.name + ".png", p.prefix + ":" + p.name + ".png", native} {
			t.Run(input, func(t *testing.T) {
				dir := t.TempDir()
				file := strings.TrimPrefix(input, p.prefix+":")
				if err := os.WriteFile(filepath.Join(dir, file), []byte(p.content), 0o644); err != nil {
					t.Fatal(err)
				}
				_, stderr, err := magick(t, prefix, dir, input, "out.jpg")
				if err == nil {
					t.Fatalf("expected magick to refuse %s (a %s payload), it converted it", input, p.name)
				}
				if input == native && !strings.Contains(stderr, "not allowed by the security policy") {
					t.Errorf("expected the security policy to refuse %s, got: %s", input, stderr)
				}
				entries, _ := os.ReadDir(dir)
				if len(entries) != 1 {
					t.Errorf("expected no file besides the payload after refusing %s, found %d entries", input, len(entries))
				}
				t.Logf("%s refused: %s", input, strings.TrimSpace(stderr))
			})
		}
	}
}

// TestPolicyCannotBeLoosenedByConfigurePath: MAGICK_CONFIGURE_PATH is searched before the
// compiled-in path, and for a policy the last matching rule wins, so a permissive policy.xml
// there changes nothing. (One in $XDG_CONFIG_HOME or ~/.config/ImageMagick is read after the
// project's and could loosen it: README.md says what the function must do about that.)
func TestPolicyCannotBeLoosenedByConfigurePath(t *testing.T) {
	prefix := magickPrefix(t)
	dir, openDir := t.TempDir(), t.TempDir()
	open := `<policymap><policy domain="module" rights="read | write" pattern="*"/>` +
		`<policy domain="coder" rights="read | write" pattern="*"/></policymap>`
	if err := os.WriteFile(filepath.Join(openDir, "policy.xml"), []byte(open), 0o644); err != nil {
		t.Fatal(err)
	}
	mvg := "push graphic-context\nviewbox 0 0 64 64\nfill red\nrectangle 0 0 64 64\npop graphic-context\n"
	if err := os.WriteFile(filepath.Join(dir, "payload.mvg"), []byte(mvg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(prefix, "bin", "magick"), "payload.mvg", "out.png")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MAGICK_CONFIGURE_PATH="+openDir, "HOME="+t.TempDir(), "XDG_CONFIG_HOME=")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not allowed by the security policy") {
		t.Errorf("expected the project's policy to refuse MVG despite a permissive MAGICK_CONFIGURE_PATH policy, got err=%v\n%s", err, out)
	}
}

// TestPolicyRefusesIndirection covers the non-format doors: indirect reads, pipes, URLs and
// system files.
func TestPolicyRefusesIndirection(t *testing.T) {
	prefix := magickPrefix(t)
	dir := t.TempDir()
	mustMagick(t, prefix, dir, "logo:", "logo.png")
	if err := os.WriteFile(filepath.Join(dir, "list.txt"), []byte("logo.png\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, input := range []string{"@list.txt", "|touch piped", "https://127.0.0.1/x.png", "/etc/hostname", "label:hi", "rose:"} {
		t.Run(input, func(t *testing.T) {
			if _, _, err := magick(t, prefix, dir, input, "out.png"); err == nil {
				t.Errorf("expected magick to refuse %q", input)
			}
			for _, f := range []string{"out.png", "piped"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("expected no %s after refusing %q", f, input)
				}
			}
		})
	}
}

// corpus is the shared image corpus (../shared/corpus from the repository root); tests fall
// back to generated images where it is absent.
func corpusFile(t *testing.T, name string) (string, bool) {
	if name == "" {
		return "", false
	}
	p := filepath.Join(repoRoot(t), "..", "shared", "corpus", name)
	if _, err := os.Stat(p); err != nil {
		return "", false
	}
	return p, true
}

// TestPolicyAllowsWebFormats: every format the function reads still converts.
func TestPolicyAllowsWebFormats(t *testing.T) {
	prefix := magickPrefix(t)
	fixtures := filepath.Join(repoRoot(t), layerDir, "testdata")
	tests := []struct {
		format, corpus string
		fallback       string // generated with this extension, or a fixture path
	}{
		{"JPEG", "linku_hato.jpg", "jpg"},
		{"PNG", "kodak_kodim01.png", "png"},
		{"WEBP", "pillow_transparent.webp", "webp"},
		{"GIF", "pillow_iss634_animated.gif", "gif"},
		{"TIFF", "", "tiff"},
		{"HEIC", "exifsamples_IMG_5195.heic", filepath.Join(fixtures, "sample.heic")},
		{"AVIF", "libheif_example.avif", filepath.Join(fixtures, "sample.avif")},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			dir := t.TempDir()
			input, ok := corpusFile(t, tt.corpus)
			switch {
			case ok:
			case filepath.IsAbs(tt.fallback):
				input = tt.fallback
				t.Logf("corpus image %q absent: using fixture %s", tt.corpus, input)
			default:
				input = filepath.Join(dir, "in."+tt.fallback)
				mustMagick(t, prefix, dir, "-size", "320x240", "plasma:fractal", input)
				t.Logf("no corpus image for %s: generated %s from plasma:fractal", tt.format, input)
			}
			if got := strings.TrimSpace(mustMagick(t, prefix, dir, "identify", "-format", "%m\n", input)); !strings.HasPrefix(got, tt.format) {
				t.Fatalf("expected %s to identify as %s, got %q", input, tt.format, got)
			}
			for _, out := range []string{"out.jpg", "out.webp", "out.png"} {
				mustMagick(t, prefix, dir, input+"[0]", "-auto-orient", "-strip", "-resize", "1024x1024>", "-quality", "80", out)
				fi, err := os.Stat(filepath.Join(dir, out))
				if err != nil || fi.Size() == 0 {
					t.Errorf("expected %s converted to a non-empty %s: %v", input, out, err)
				}
			}
		})
	}
}

// TestResourceCeilings: the policy's width limit is the configuration's default
// maxDimension, and a program cannot raise it (the function only ever lowers limits).
func TestResourceCeilings(t *testing.T) {
	prefix := magickPrefix(t)
	dir := t.TempDir()
	mustMagick(t, prefix, dir, "-size", "16384x1", "xc:red", "null:")
	_, stderr, err := magick(t, prefix, dir, "-limit", "width", "100000", "-size", "16385x1", "xc:red", "null:")
	if err == nil || !strings.Contains(stderr, "exceeds limit") {
		t.Errorf("expected a 16385-pixel-wide image to exceed the policy's width limit even after -limit width 100000, got err=%v: %s", err, stderr)
	}
}
