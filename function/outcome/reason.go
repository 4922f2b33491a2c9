package outcome

import "strings"

// The words a reason starts with, stable for logs, metrics and tests. A
// reason is one of them, ": " and details ("corrupt: decode: Premature end of
// JPEG file"); only the reasons of Failed records, which carry the error
// itself, start with none.
const (
	// Rejected.
	ReasonEmpty         = "empty"              // no bytes
	ReasonNotImage      = "not an image"       // unrecognised content
	ReasonNotAllowed    = "format not allowed" // a format outside the allowlist
	ReasonTooLarge      = "too large"          // bytes, dimensions, pixels or ImageMagick resources
	ReasonTooManyFrames = "too many frames"
	ReasonTooSlow       = "too slow"      // ImageMagick's time limit, with no deadline to blame
	ReasonCorrupt       = "corrupt"       // decode errors and data-corruption warnings
	ReasonPolicyDenied  = "policy-denied" // ImageMagick's security policy refused it
	// An output only: its key holds the output of another upload whose
	// version is current (uploads/a.png and uploads/a.webp both make
	// uploads/a-640.webp); the first one written keeps it.
	ReasonKeyTaken = "key taken"

	// KeptOriginal; for an output in another format than the upload's, the
	// last two skip the output instead.
	ReasonNotSmaller  = "not smaller"
	ReasonAnimatedPNG = "animated png" // APNG frames would be lost
	ReasonMultiFrame  = "multi-frame"  // the output format cannot hold the frames
	ReasonDepth       = "sample depth" // the ImageMagick build holds fewer bits per sample than the input has

	// Compressed although larger: a conversion, or an original that cannot
	// be stripped of its private metadata.
	ReasonLarger = "larger"

	// Skipped.
	ReasonNotCreated    = "not an ObjectCreated event"
	ReasonOtherBucket   = "not the source bucket"
	ReasonOutsideFilter = "outside the filter" // not under the source prefix, or no configured suffix
	ReasonOwnOutput     = "own output"         // the object carries the compressor's output marker
	ReasonDuplicate     = "duplicate"          // the destination holds this version's output with these settings
	ReasonDeleted       = "deleted since the event"
	ReasonOverwritten   = "overwritten since the event" // the newer upload has its own event
	// Removal events (mirrorDeletes).
	ReasonStillCurrent    = "still current"     // a version of the key remains current; its outputs stay
	ReasonNothingToDelete = "nothing to delete" // no output names the removed key

	// Deleted.
	ReasonSourceDeleted = "source deleted"
	ReasonSuperseded    = "superseded" // the source's current version is rejected: its older output goes (mirrorDeletes)

	// Failed and retried.
	ReasonNotStarted = "not started" // too little of the invocation left
)

var reasonWords = []string{
	ReasonEmpty, ReasonNotImage, ReasonNotAllowed, ReasonTooLarge, ReasonTooManyFrames, ReasonTooSlow,
	ReasonCorrupt, ReasonPolicyDenied, ReasonKeyTaken, ReasonNotSmaller, ReasonAnimatedPNG, ReasonMultiFrame, ReasonDepth, ReasonLarger,
	ReasonNotCreated, ReasonOtherBucket, ReasonOutsideFilter, ReasonOwnOutput, ReasonDuplicate,
	ReasonDeleted, ReasonOverwritten, ReasonStillCurrent, ReasonNothingToDelete, ReasonSourceDeleted, ReasonSuperseded, ReasonNotStarted,
}

// Because writes a reason: word, ": " and the details.
func Because(word, details string) string { return word + ": " + details }

// Word returns the reason word reason starts with, or "" when it starts with
// none of them.
func Word(reason string) string {
	for _, w := range reasonWords {
		if rest, ok := strings.CutPrefix(reason, w); ok && strings.HasPrefix(rest, ": ") {
			return w
		}
	}
	return ""
}
