package outcome

import (
	"fmt"
	"strings"
)

// ResultCode is what an S3 Batch Operations task's result says to S3.
type ResultCode string

// The result codes S3 Batch Operations accepts from a Lambda function.
const (
	// Succeeded: done, or nothing to do; the result string says which.
	Succeeded ResultCode = "Succeeded"
	// TemporaryFailure: S3 invokes the function for the task again.
	TemporaryFailure ResultCode = "TemporaryFailure"
	// PermanentFailure: the task failed for good; the result string says why.
	PermanentFailure ResultCode = "PermanentFailure"
)

// Kinds a task's result string starts with: a Decision, or Duplicate for an
// output that was already there (a skip that Batch users count apart).
const Duplicate = ReasonDuplicate

// maxResultString bounds a result string; S3 copies it into every line of the
// completion report, and a reason can quote a long decoder message.
const maxResultString = 1024

// BatchResult is what a Batch Operations task answers for the record its
// object became: the code, and a result string that starts with the kind of
// outcome (compressed, kept-original, duplicate, skipped, rejected, failed),
// ": " and the details, so a completion report is read like a log.
func BatchResult(o Record) (ResultCode, string) {
	code, kind, details := Succeeded, string(o.Decision), o.Reason
	switch {
	case o.Decision.Stored():
		details = fmt.Sprintf("%d -> %d bytes, %s", o.BytesIn, o.BytesOut, outputList(o, true))
	case o.Decision == Skipped && Word(o.Reason) == ReasonDuplicate:
		kind, details = Duplicate, "already at "+outputList(o, false)
	case o.Decision == Rejected:
		code = PermanentFailure
	case o.Decision == Failed && o.Retry:
		code = TemporaryFailure
	case o.Decision == Failed:
		code = PermanentFailure
	}
	s := kind + ": " + details
	if len(s) > maxResultString {
		s = strings.ToValidUTF8(s[:maxResultString-len("...")], "") + "..."
	}
	return code, s
}

// outputList names o's outputs, each with what became of it where that is
// not the record's decision, and with reasons, its reason: "uploads/a.jpg,
// uploads/a-640.webp (skipped: multi-frame: ...)".
func outputList(o Record, reasons bool) string {
	parts := make([]string, len(o.Outputs))
	for i, out := range o.Outputs {
		var note []string
		if out.Decision != o.Decision {
			note = append(note, string(out.Decision))
		}
		if reasons && out.Reason != "" {
			note = append(note, out.Reason)
		}
		parts[i] = out.Key
		if len(note) > 0 {
			parts[i] += " (" + strings.Join(note, ": ") + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// ResultKind is the kind a result string starts with (one of BatchResult's),
// or "" for a string the function did not write, such as S3's own message
// for an invocation that failed.
func ResultKind(resultString string) string {
	kind, _, ok := strings.Cut(resultString, ": ")
	if !ok {
		return ""
	}
	switch Decision(kind) {
	case Compressed, KeptOriginal, Skipped, Rejected, Failed, Deleted:
		return kind
	}
	if kind == Duplicate {
		return kind
	}
	return ""
}
