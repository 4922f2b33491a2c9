package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

// procStatus reads a memory figure (VmRSS, VmHWM) of this process in bytes
// from /proc/self/status: ImageMagick's memory is invisible to the Go runtime.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// TestNoLeak runs the paths that create wands (decode, the coalesced and
// optimised copies of an animation, a resize, a kept original, a rejection)
// 2000 times and checks that neither the process nor the Go heap grows: a
// wand that is not destroyed leaks its pixels in C memory. It is a leak test
// with a generous bound, not a memory target (those are benchmarks).
func TestNoLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("2000 iterations")
	}
	resized := settings(func(s *config.Settings) {
		s.Outputs = []config.Output{{Format: config.Original, MaxWidth: 20}, {Format: "webp", MaxWidth: 10}}
	})
	inputs := []struct {
		in []byte
		s  config.Settings
	}{
		{fixture.Pattern(t, "plasma:fractal", 64, 48, "JPEG"), config.Default()},
		{fixture.AnimatedGIF(t, 4), config.Default()},
		{fixture.AnimatedGIF(t, 3), resized},
		{fixture.Pattern(t, "gradient:red-blue", 64, 48, "PNG"), settings(func(s *config.Settings) { s.PNG.CompressionLevel = 0 })},
		{fixture.Pattern(t, "plasma:fractal", 64, 48, "JPEG")[:400], config.Default()},
	}
	run := func(n int) {
		for i := range n {
			in := inputs[i%len(inputs)]
			if _, err := pipeline.Process(context.Background(), in.in, in.s); err != nil {
				t.Fatal(err)
			}
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	run(200) // warm up caches and the allocator
	rss0, heap0 := procStatus(t, "VmRSS"), heap()
	run(2000)
	rss1, heap1 := procStatus(t, "VmRSS"), heap()
	t.Logf("after 2000 images: RSS %+d KiB, Go heap %+d KiB", (rss1-rss0)>>10, (int64(heap1)-int64(heap0))>>10)
	if growth := rss1 - rss0; growth > 30<<20 {
		t.Errorf("RSS grew by %d MiB over 2000 images, want < 30 MiB: a wand is not destroyed", growth>>20)
	}
	if growth := int64(heap1) - int64(heap0); growth > 8<<20 {
		t.Errorf("Go heap grew by %d MiB over 2000 images, want < 8 MiB", growth>>20)
	}
}
