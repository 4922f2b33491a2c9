// Package outcome is the compressor's vocabulary, kept in one place for every
// part that speaks it: the decisions (what became of an upload, or of one
// output made from it), the words a reason starts with, the image formats
// (name, content type, extension, magic bytes), and the JSON documents the
// function and the compress command print.
//
// It imports only the standard library and no cgo, so programs that must
// build where ImageMagick is not installed yet (the local stack, the
// benchmark harness) share it with the pipeline.
package outcome

// Decision says what became of an upload, or of one output made from it.
type Decision string

const (
	// Compressed: the output is the re-encoded image.
	Compressed Decision = "compressed"
	// KeptOriginal: the output is the original image with its private
	// metadata removed at the container level, because re-encoding did not
	// make it smaller or would have lost something (an animation).
	KeptOriginal Decision = "kept-original"
	// Rejected: the input is not an image the compressor accepts; there is
	// no output, and the upload is reported as a failure.
	Rejected Decision = "rejected"
	// Skipped: nothing to do; the reason says why (a duplicate, an object
	// overwritten or deleted since the event, a key outside the filter).
	Skipped Decision = "skipped"
	// Failed: not done; retried when Record.Retry, else reported as a
	// failure. The local relay also reports it for an event it gave up on.
	Failed Decision = "failed"
	// Deleted: the source object is gone and mirrorDeletes is on, so the
	// outputs made from it were deleted too.
	Deleted Decision = "deleted"
)

// Stored reports whether d put an output in the destination.
func (d Decision) Stored() bool { return d == Compressed || d == KeptOriginal }
