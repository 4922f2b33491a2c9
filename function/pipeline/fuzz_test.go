package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

// FuzzProcess feeds mutated images through the whole pipeline. Whatever the
// bytes, Process must not crash or hang, must not fail transiently (no
// deadline is involved), and must return a consistent result: an output that
// decodes, never bigger unless the reason says why.
//
// Seeds are small generated images plus the shared corpus files under 100 kB.
// CI runs it for a bounded time (new findings are minimised for up to
// -fuzzminimizetime, 60 s by default, during which no executions count):
//
//	go test -run='^$' -fuzz=FuzzProcess -fuzztime=30s ./pipeline/
func FuzzProcess(f *testing.F) {
	f.Add(fixture.Pattern(f, "plasma:fractal", 16, 16, "JPEG"), uint8(0))
	f.Add(fixture.Pattern(f, "gradient:red-blue", 16, 16, "PNG"), uint8(1))
	f.Add(fixture.Pattern(f, "plasma:fractal", 16, 16, "WEBP"), uint8(2))
	f.Add(fixture.AnimatedGIF(f, 3), uint8(3))
	for _, s := range fixture.Corpus(f) {
		if len(s.Data) < 100<<10 {
			f.Add(s.Data, uint8(len(s.Name)))
		}
	}
	// Small limits keep each run fast; the variant byte picks the outputs,
	// so that several outputs from one decode, conversion, resizing and the
	// scaled JPEG decode are fuzzed too.
	base := config.Default()
	base.Limits = config.Limits{MaxInputBytes: 1 << 20, MaxPixels: 1 << 20, MaxDimension: 2048, MaxFrames: 16}
	formats := []string{config.Original, config.Original, "jpeg", "png", "webp"}
	f.Fuzz(func(t *testing.T, in []byte, variant uint8) {
		s := base
		s.Outputs = []config.Output{{Format: formats[variant%5]}}
		if variant&0x80 != 0 {
			s.Outputs[0].MaxWidth, s.Outputs[0].MaxHeight = 31, 17
		}
		if variant&0x40 != 0 {
			s.Outputs = append(s.Outputs, config.Output{Format: formats[(variant/5)%5], MaxWidth: 7, Suffix: "-7"})
		}
		start := time.Now()
		rs, err := pipeline.Process(context.Background(), in, s)
		// Inputs are at most 1 MP: seconds would mean a hang.
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("Process took %v on %d bytes", d, len(in))
		}
		if err != nil {
			t.Fatalf("Process failed without a deadline: %v", err)
		}
		if len(rs) != len(s.Outputs) && (len(rs) != 1 || rs[0].Decision != outcome.Rejected) {
			t.Fatalf("%d results for %d outputs", len(rs), len(s.Outputs))
		}
		for _, r := range rs {
			if !r.Decision.Stored() {
				if r.Output != nil || r.Reason == "" {
					t.Fatalf("%s with output or without reason: %+v", r.Decision, r.Reason)
				}
				continue
			}
			if len(r.Output) == 0 || r.BytesOut != len(r.Output) {
				t.Fatalf("%s with %d output bytes, BytesOut %d", r.Decision, len(r.Output), r.BytesOut)
			}
			if r.BytesOut > r.BytesIn && !strings.HasPrefix(r.Reason, outcome.ReasonLarger) {
				t.Fatalf("output %d bytes > input %d without a reason", r.BytesOut, r.BytesIn)
			}
			readBack(t, r.Output)
		}
	})
}
