package outcome_test

import (
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

func TestBatchResult(t *testing.T) {
	one := func(key string, d outcome.Decision, reason string) []outcome.Output {
		return []outcome.Output{{Key: key, Decision: d, Reason: reason}}
	}
	duplicate := outcome.Because(outcome.ReasonDuplicate, "the destination already holds it")
	for _, tc := range []struct {
		name string
		rec  outcome.Record
		code outcome.ResultCode
		want string
	}{
		{"compressed", outcome.Record{Decision: outcome.Compressed, BytesIn: 1000, BytesOut: 400, Outputs: one("uploads/a.jpg", outcome.Compressed, "")},
			outcome.Succeeded, "compressed: 1000 -> 400 bytes, uploads/a.jpg"},
		{"compressed although larger", outcome.Record{Decision: outcome.Compressed, BytesIn: 10, BytesOut: 12, Reason: "larger: converted heic to jpeg",
			Outputs: one("uploads/a.jpg", outcome.Compressed, "larger: converted heic to jpeg")},
			outcome.Succeeded, "compressed: 10 -> 12 bytes, uploads/a.jpg (larger: converted heic to jpeg)"},
		{"kept the original", outcome.Record{Decision: outcome.KeptOriginal, BytesIn: 10, BytesOut: 10, Reason: "not smaller: 11 bytes",
			Outputs: one("uploads/a.png", outcome.KeptOriginal, "not smaller: 11 bytes")},
			outcome.Succeeded, "kept-original: 10 -> 10 bytes, uploads/a.png (not smaller: 11 bytes)"},
		{"renditions", outcome.Record{Decision: outcome.Compressed, BytesIn: 1000, BytesOut: 500, Outputs: []outcome.Output{
			{Key: "uploads/a.gif", Decision: outcome.Compressed},
			{Key: "uploads/a-640.webp", Decision: outcome.Skipped, Reason: "multi-frame: webp"},
			{Key: "uploads/a-640.avif", Decision: outcome.Skipped, Reason: duplicate},
		}}, outcome.Succeeded, "compressed: 1000 -> 500 bytes, uploads/a.gif, uploads/a-640.webp (skipped: multi-frame: webp), uploads/a-640.avif (skipped: " + duplicate + ")"},
		{"duplicate", outcome.Record{Decision: outcome.Skipped, Reason: duplicate, Outputs: []outcome.Output{
			{Key: "uploads/a.jpg", Decision: outcome.Skipped, Reason: duplicate}, {Key: "uploads/a-640.webp", Decision: outcome.Skipped, Reason: duplicate},
		}}, outcome.Succeeded, "duplicate: already at uploads/a.jpg, uploads/a-640.webp"},
		{"skipped", outcome.Record{Decision: outcome.Skipped, Reason: outcome.Because(outcome.ReasonOutsideFilter, "not under uploads/")},
			outcome.Succeeded, "skipped: outside the filter: not under uploads/"},
		{"rejected", outcome.Record{Decision: outcome.Rejected, Reason: outcome.Because(outcome.ReasonCorrupt, "decode: Premature end of JPEG file")},
			outcome.PermanentFailure, "rejected: corrupt: decode: Premature end of JPEG file"},
		{"access denied", outcome.Record{Decision: outcome.Failed, Reason: "get s3://a/b: access denied"},
			outcome.PermanentFailure, "failed: get s3://a/b: access denied"},
		{"throttled", outcome.Record{Decision: outcome.Failed, Retry: true, Reason: "get s3://a/b: SlowDown"},
			outcome.TemporaryFailure, "failed: get s3://a/b: SlowDown"},
	} {
		code, s := outcome.BatchResult(tc.rec)
		if code != tc.code || s != tc.want {
			t.Errorf("%s: BatchResult = %s %q\nwant %s %q", tc.name, code, s, tc.code, tc.want)
		}
		if kind := outcome.ResultKind(s); kind != strings.SplitN(tc.want, ":", 2)[0] {
			t.Errorf("%s: ResultKind(%q) = %q, want the word before the colon", tc.name, s, kind)
		}
	}
}

func TestBatchResultIsBounded(t *testing.T) {
	_, s := outcome.BatchResult(outcome.Record{Decision: outcome.Rejected, Reason: outcome.Because(outcome.ReasonCorrupt, strings.Repeat("é", 2000))})
	if len(s) > 1024 || !strings.HasSuffix(s, "...") || !strings.HasPrefix(s, "rejected: corrupt: ") {
		t.Errorf("a long reason gave a result string of %d bytes (%.40q...), want at most 1024 ending in ...", len(s), s)
	}
	if strings.ToValidUTF8(s, "?") != s {
		t.Errorf("the truncated result string is not valid UTF-8: %q", s[len(s)-10:])
	}
}

func TestResultKindOfOtherStrings(t *testing.T) {
	for _, s := range []string{"Lambda returned function error: {\"errorMessage\":\"Task timed out\"}", "Successful", "", "compressed"} {
		if kind := outcome.ResultKind(s); kind != "" {
			t.Errorf("ResultKind(%q) = %q, want \"\" (not a string the function writes)", s, kind)
		}
	}
}
