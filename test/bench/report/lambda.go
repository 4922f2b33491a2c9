package report

import (
	"fmt"
	"slices"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// LambdaSample is one image through the real bootstrap in a Lambda-shaped
// execution environment (test/lambda): the function's memory as a cgroup
// limit and the CPU share Lambda gives it.
type LambdaSample struct {
	Image    string
	Pixels   int64 // of all frames
	Bytes    int64
	Decision outcome.Decision
	Reason   string
	Millis   int64 // the function's time for the record
	RSSPeak  int64 // bytes
	Killed   string
}

// Lambda is the Lambda-shaped run: the settings it ran with and its samples.
type Lambda struct {
	MemoryMB       int
	CPU            float64 // share of a core
	TimeoutSeconds int     // the default function timeout
	Samples        []LambdaSample
	Err            string // why it did not run (fully)
}

// lambdaClasses group images by megapixels for the latency table.
var lambdaClasses = []struct {
	name  string
	maxMP float64
	minMP float64
}{
	{"under 1 MP", 1, 0}, {"1–4 MP", 4, 1}, {"4–12 MP", 12, 4}, {"12–24 MP", 24, 12}, {"24–50 MP", 50.0001, 24},
}

func lambdaSection(d doc, r *Results) {
	l := r.Lambda
	d.section(fmt.Sprintf("Latency at %d MB (Lambda-shaped)", l.MemoryMB))
	if l.Err != "" {
		d.p("**Not (fully) measured**: %s", l.Err)
		d.p("")
	}
	if len(l.Samples) == 0 {
		return
	}
	d.p("The real `bootstrap` under aws-lambda-rie, behind the local stack's relay and MinIO, in a cgroup of %d MB without swap and %.3f of a core (Lambda's share at that memory size: memory / 1769 MB), several such environments at once; the function's own time per record, for the corpus and for the largest image each default limit allows in every format. Only images that were stored count (compressed or kept); rejections take milliseconds.", l.MemoryMB, l.CPU)
	d.p("")
	d.header(1, "size", "images", "p50", "p95", "slowest", "peak RSS")
	var slowest LambdaSample
	for _, c := range lambdaClasses {
		var secs []float64
		var rss int64
		for _, s := range l.Samples {
			mp := float64(s.Pixels) / 1e6
			if !s.Decision.Stored() || mp < c.minMP || mp >= c.maxMP {
				continue
			}
			secs = append(secs, float64(s.Millis)/1000)
			rss = max(rss, s.RSSPeak)
			if s.Millis > slowest.Millis {
				slowest = s
			}
		}
		if len(secs) == 0 {
			continue
		}
		d.row(c.name, fmt.Sprint(len(secs)), fmt.Sprintf("%.1f s", Median(secs)), fmt.Sprintf("%.1f s", Percentile(secs, 95)),
			fmt.Sprintf("%.1f s", slices.Max(secs)), mib(float64(rss)))
	}
	d.p("")
	if slowest.Image != "" {
		d.p("The slowest stored image, %s (%.1f MP), took %.1f s: the default timeout of %d s leaves %.1f× that.",
			slowest.Image, float64(slowest.Pixels)/1e6, float64(slowest.Millis)/1000, l.TimeoutSeconds, float64(l.TimeoutSeconds)*1000/float64(slowest.Millis))
		d.p("")
	}
	var failed []string
	for _, s := range l.Samples {
		if s.Killed != "" || (!s.Decision.Stored() && s.Decision != outcome.Rejected) {
			failed = append(failed, fmt.Sprintf("%s: %s %s %s", s.Image, s.Decision, s.Reason, s.Killed))
		}
	}
	if len(failed) > 0 {
		d.p("**Not done within the timeout, or killed:**")
		d.p("")
		for _, f := range failed {
			d.p("- %s", f)
		}
		d.p("")
	}
}
