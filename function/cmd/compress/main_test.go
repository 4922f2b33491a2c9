package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// bin is the compress binary, built once with the same cgo environment as
// the test.
var bin string

func TestMain(m *testing.M) {
	imagick.Initialize() // for the images the tests generate and read back
	fixture.Main(m, &bin)
}

// run executes the binary and returns its JSON lines and exit code.
func run(t *testing.T, args ...string) ([]outcome.File, int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var lines []outcome.File
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		var r outcome.File
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("stdout line %q is not a result: %v", sc.Text(), err)
		}
		lines = append(lines, r)
	}
	return lines, code, stderr.String()
}

// inputs writes the test images into dir: a photo, a broken JPEG, and a PNG
// in a subdirectory.
func inputs(t *testing.T, dir string) (photo, broken, sub string) {
	t.Helper()
	jpg := fixture.FileOr(t, "exifsamples_DSCN0010_gps.jpg", func(tb testing.TB) []byte {
		return fixture.Pattern(tb, "plasma:fractal", 320, 240, "JPEG")
	})
	png := fixture.FileOr(t, "pngsuite_basn3p08.png", func(tb testing.TB) []byte {
		return fixture.Pattern(tb, "gradient:red-blue", 320, 240, "PNG")
	})
	photo, broken, sub = filepath.Join(dir, "photo.jpg"), filepath.Join(dir, "broken.jpg"), filepath.Join(dir, "pngs")
	write := func(path string, data []byte) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(photo, jpg)
	write(broken, jpg[:len(jpg)/2])
	write(filepath.Join(sub, "deeper", "graphic.png"), png)
	return photo, broken, sub
}

func TestCompress(t *testing.T) {
	dir := t.TempDir()
	photo, broken, sub := inputs(t, dir)
	out := filepath.Join(dir, "out")
	lines, code, stderr := run(t, "-out", out, photo, broken, sub)
	if code != 0 {
		t.Fatalf("exit %d, want 0 (a rejection is not an error without -strict); stderr: %s", code, stderr)
	}
	if len(lines) != 3 {
		t.Fatalf("%d JSON lines, want one per input (3)", len(lines))
	}
	want := []struct {
		input, output string
		decisions     []outcome.Decision
	}{
		{photo, filepath.Join(out, "photo.jpg"), []outcome.Decision{outcome.Compressed}},
		{broken, "", []outcome.Decision{outcome.Rejected}},
		{filepath.Join(sub, "deeper", "graphic.png"), filepath.Join(out, "deeper", "graphic.png"), []outcome.Decision{outcome.Compressed, outcome.KeptOriginal}},
	}
	for i, w := range want {
		l := lines[i]
		if l.Input != w.input || l.Output != w.output || !slices.Contains(w.decisions, l.Decision) {
			t.Errorf("line %d: input %q output %q decision %s (%s); want %q, %q, one of %v", i, l.Input, l.Output, l.Decision, l.Reason, w.input, w.output, w.decisions)
			continue
		}
		if l.Decision == outcome.Rejected {
			if outcome.Word(l.Reason) != outcome.ReasonCorrupt || l.BytesOut != 0 {
				t.Errorf("rejected line %+v, want a corrupt reason and no output", l)
			}
			continue
		}
		data, err := os.ReadFile(l.Output)
		if err != nil {
			t.Fatalf("output file: %v", err)
		}
		in, _ := os.ReadFile(l.Input)
		if len(data) != l.BytesOut || len(in) != l.BytesIn || l.BytesOut > l.BytesIn {
			t.Errorf("%s: %d bytes in, %d out on disk; line says %d -> %d (never bigger)", l.Input, len(in), len(data), l.BytesIn, l.BytesOut)
		}
		mw := imagick.NewMagickWand()
		if err := mw.ReadImageBlob(data); err != nil {
			t.Errorf("%s does not decode: %v", l.Output, err)
		} else if int(mw.GetImageWidth()) != l.Width || int(mw.GetImageHeight()) != l.Height || strings.ToLower(mw.GetImageFormat()) != string(l.FormatOut) {
			t.Errorf("%s is %s %dx%d, line says %s %dx%d", l.Output, mw.GetImageFormat(), mw.GetImageWidth(), mw.GetImageHeight(), l.FormatOut, l.Width, l.Height)
		}
		mw.Destroy()
	}
	if _, err := os.Stat(filepath.Join(out, "broken.jpg")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected input left an output file (stat: %v)", err)
	}
}

func TestStrict(t *testing.T) {
	dir := t.TempDir()
	photo, broken, _ := inputs(t, dir)
	if _, code, _ := run(t, "-strict", "-out", filepath.Join(dir, "a"), photo); code != 0 {
		t.Errorf("-strict without rejections: exit %d, want 0", code)
	}
	lines, code, _ := run(t, "-strict", "-out", filepath.Join(dir, "b"), broken, photo)
	if code != 1 || len(lines) != 2 {
		t.Errorf("-strict with a rejection: exit %d and %d lines, want 1 and both inputs processed", code, len(lines))
	}
}

// TestConfig: the -config file is the settings JSON, parsed over the
// defaults; every output is written under its destination key's file name.
func TestConfig(t *testing.T) {
	dir := t.TempDir()
	photo, _, sub := inputs(t, dir)
	cfg := filepath.Join(dir, "settings.json")
	doc := `{"outputs":[{"format":"original"},{"format":"webp","maxWidth":100,"suffix":"-100"}],"webp":{"quality":50}}`
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	lines, code, stderr := run(t, "-config", cfg, "-out", out, photo, sub)
	if code != 0 || len(lines) != 4 {
		t.Fatalf("exit %d, %d lines, want 0 and two lines per input; stderr %s", code, len(lines), stderr)
	}
	want := []struct {
		output string
		format outcome.Format
		width  int // 0: the input's
	}{
		{filepath.Join(out, "photo.jpg"), "jpeg", 0},
		{filepath.Join(out, "photo-100.webp"), "webp", 100},
		{filepath.Join(out, "deeper", "graphic.png"), "png", 0},
		{filepath.Join(out, "deeper", "graphic-100.webp"), "webp", 0}, // smaller already: never enlarged
	}
	for i, w := range want {
		l := lines[i]
		if l.Output != w.output || l.FormatOut != w.format || w.width != 0 && l.Width != w.width || !l.Decision.Stored() {
			t.Errorf("line %d: %s %s %d px wide at %s; want it stored as %s at %s", i, l.Decision, l.FormatOut, l.Width, l.Output, w.format, w.output)
			continue
		}
		checkFile(t, l)
	}
}

// TestAVIFOutput: an AVIF output is written where the build has an AV1
// encoder, and refused at start, naming the entry, where it has not.
func TestAVIFOutput(t *testing.T) {
	dir := t.TempDir()
	photo, _, _ := inputs(t, dir)
	cfg := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(cfg, []byte(`{"outputs":[{"format":"original"},{"format":"avif","maxWidth":64,"suffix":"-64"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, code, stderr := run(t, "-config", cfg, "-out", filepath.Join(dir, "out"), photo)
	if code == 2 {
		if !strings.Contains(stderr, "outputs[1] (avif-64 (max 64 x any)): this ImageMagick cannot write avif") || len(lines) != 0 {
			t.Errorf("exit 2 with %d lines, stderr %q; want nothing processed and the AVIF entry named", len(lines), stderr)
		}
		t.Logf("this build cannot write AVIF: %s", stderr)
		return
	}
	if code != 0 || len(lines) != 2 {
		t.Fatalf("exit %d, %d lines; stderr %s", code, len(lines), stderr)
	}
	if l := lines[1]; l.Output != filepath.Join(dir, "out", "photo-64.avif") || l.FormatOut != "avif" || l.Width != 64 {
		t.Errorf("AVIF line %+v, want out/photo-64.avif, 64 px wide", l)
	}
	checkFile(t, lines[1])
}

// checkFile: the output file is what its line says.
func checkFile(t *testing.T, l outcome.File) {
	t.Helper()
	data, err := os.ReadFile(l.Output)
	if err != nil {
		t.Fatalf("output file: %v", err)
	}
	mw := imagick.NewMagickWand()
	defer mw.Destroy()
	if len(data) != l.BytesOut {
		t.Errorf("%s: %d bytes on disk, line says %d", l.Output, len(data), l.BytesOut)
	}
	if err := mw.ReadImageBlob(data); err != nil {
		t.Errorf("%s does not decode: %v", l.Output, err)
	} else if int(mw.GetImageWidth()) != l.Width || int(mw.GetImageHeight()) != l.Height || strings.ToLower(mw.GetImageFormat()) != string(l.FormatOut) {
		t.Errorf("%s is %s %dx%d, line says %s %dx%d", l.Output, mw.GetImageFormat(), mw.GetImageWidth(), mw.GetImageHeight(), l.FormatOut, l.Width, l.Height)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	photo, _, _ := inputs(t, dir)
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"jpeg":{"qualty":80}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	for name, args := range map[string][]string{
		"no arguments":        nil,
		"no -out":             {photo},
		"no input":            {"-out", out},
		"unknown flag":        {"-quality", "80", "-out", out, photo},
		"misspelt setting":    {"-config", bad, "-out", out, photo},
		"missing config file": {"-config", filepath.Join(dir, "none.json"), "-out", out, photo},
		"missing input":       {"-out", out, filepath.Join(dir, "none.jpg")},
	} {
		t.Run(name, func(t *testing.T) {
			lines, code, stderr := run(t, args...)
			if code != 2 || len(lines) != 0 || !strings.Contains(stderr, "usage: compress") && !strings.Contains(stderr, "compress:") {
				t.Errorf("exit %d, %d lines, stderr %q; want exit 2, nothing processed, a message", code, len(lines), stderr)
			}
		})
	}
}
