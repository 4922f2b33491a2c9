package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

const bombChildEnv = "PIPELINE_BOMB_CHILD"

// bombs are files that declare far more pixels than they hold.
func bombs(t *testing.T) map[string][]byte {
	t.Helper()
	jpg := fixture.Pattern(t, "plasma:fractal", 16, 16, "JPEG")
	sof := bytes.Index(jpg, []byte{0xFF, 0xC0})
	huge := append([]byte{}, jpg...)
	copy(huge[sof+5:], []byte{0xFF, 0xDC, 0xFF, 0xDC}) // 65500x65500
	gif := append([]byte("GIF89a\xff\xff\xff\xff\x00\x00\x00"), ",\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02\x4c\x01\x00;"...)
	set := map[string][]byte{
		"generated png 65535x65535":  fixture.PNGHeaderOnly(65535, 65535),
		"generated png 16384x16384":  fixture.PNGHeaderOnly(16384, 16384),
		"generated jpeg 65500x65500": huge,
		"generated gif 65535x65535":  gif,
	}
	for _, s := range fixture.Corpus(t) {
		if s.Category == "bomb" {
			set[s.Name] = s.Data
		}
	}
	return set
}

// TestBombsAllocateNothing processes every bomb in a child process and checks
// its peak resident memory: each must be rejected as too large before
// ImageMagick allocates its pixels (a 16384x16384 RGBA frame alone would be
// 2 GiB at 16 bits per sample).
func TestBombsAllocateNothing(t *testing.T) {
	if os.Getenv(bombChildEnv) == "1" {
		for name, in := range bombs(t) {
			r, err := processOne(t, context.Background(), in, config.Default())
			if err != nil || r.Decision != outcome.Rejected || !strings.HasPrefix(r.Reason, outcome.ReasonTooLarge) {
				t.Errorf("%s: %s (%s) %v; want rejected as %s", name, r.Decision, r.Reason, err, outcome.ReasonTooLarge)
			}
		}
		fmt.Printf("peak-rss-kib=%d\n", procStatus(t, "VmHWM")>>10)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBombsAllocateNothing$", "-test.v")
	cmd.Env = append(os.Environ(), bombChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`peak-rss-kib=(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("child printed no peak RSS:\n%s", out)
	}
	kib, _ := strconv.Atoi(string(m[1]))
	t.Logf("peak RSS of a process that only processed bombs: %d MiB", kib>>10)
	if kib > 150<<10 {
		t.Errorf("peak RSS %d MiB, want < 150 MiB: a bomb was allocated", kib>>10)
	}
}
