package pipeline

/*
#cgo pkg-config: MagickCore
#include <stdlib.h>
#include <MagickCore/MagickCore.h>

// readExceptions decodes a blob as a wand would and returns every exception
// the read threw, one "severity<TAB>reason" line each, in the order thrown.
// option/value sets one read option (NULL for none).
static char *readExceptions(const void *blob, size_t length, const char *option,
  const char *value)
{
  ImageInfo *info = AcquireImageInfo();
  ExceptionInfo *exception = AcquireExceptionInfo();
  if (option != NULL)
    (void) SetImageOption(info, option, value);
  Image *images = BlobToImage(info, blob, length, exception);
  if (images != NULL)
    images = DestroyImageList(images);
  info = DestroyImageInfo(info);
  char *lines = AcquireString("");
  LinkedListInfo *list = (LinkedListInfo *) exception->exceptions;
  ResetLinkedListIterator(list);
  const ExceptionInfo *p;
  while ((p = (const ExceptionInfo *) GetNextValueInLinkedList(list)) != NULL) {
    char line[MagickPathExtent];
    (void) FormatLocaleString(line, MagickPathExtent, "%d\t%s\n", (int) p->severity,
      p->reason != NULL ? p->reason : "");
    (void) ConcatenateString(&lines, line);
  }
  exception = DestroyExceptionInfo(exception);
  return lines;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// exceptionKinds maps the names in imagick's error strings back to exception
// types: imagick.MagickWandException keeps its type unexported and only
// prints it ("ERROR_CORRUPT_IMAGE: ...").
var exceptionKinds = func() map[string]imagick.ExceptionType {
	kinds := map[string]imagick.ExceptionType{}
	for v := imagick.EXCEPTION_WARNING; v <= imagick.FATAL_ERROR_POLICY; v++ {
		if name := v.String(); !strings.HasPrefix(name, "UnknownError") {
			kinds[name] = v
		}
	}
	return kinds
}()

// exception splits an ImageMagick error into its type (0 when imagick names
// one this table lacks) and a readable message (without the "@
// error/file.c/Function/line" location and the empty file name of blobs). ok
// is false for errors that did not come from ImageMagick.
func exception(err error) (kind imagick.ExceptionType, msg string, ok bool) {
	var mwe *imagick.MagickWandException
	if !errors.As(err, &mwe) {
		return 0, "", false
	}
	name, msg, _ := strings.Cut(mwe.Error(), ": ")
	kind = exceptionKinds[name]
	return kind, readable(msg), true
}

// readable drops the "@ error/file.c/Function/line" location and the empty
// file name of blobs from an ImageMagick message.
func readable(msg string) string {
	if i := strings.Index(msg, " @ "); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimSpace(strings.ReplaceAll(msg, "`'", ""))
}

// thrown is one exception of a read.
type thrown struct {
	kind imagick.ExceptionType
	msg  string
}

// readExceptions decodes data once more, outside any wand, to learn every
// exception the read throws: a wand reports only the first of the highest
// severity, which can hide the warning that matters behind a harmless one.
// option and value set one read option ("jpeg:size"; "" for none).
func readExceptions(data []byte, option, value string) []thrown {
	var copt, cval *C.char
	if option != "" {
		copt, cval = C.CString(option), C.CString(value)
		defer C.free(unsafe.Pointer(copt))
		defer C.free(unsafe.Pointer(cval))
	}
	lines := C.readExceptions(unsafe.Pointer(unsafe.SliceData(data)), C.size_t(len(data)), copt, cval)
	defer C.RelinquishMagickMemory(unsafe.Pointer(lines))
	var all []thrown
	for line := range strings.Lines(C.GoString(lines)) {
		severity, msg, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		n, err := strconv.Atoi(severity)
		if err != nil {
			continue
		}
		all = append(all, thrown{imagick.ExceptionType(n), readable(msg)})
	}
	return all
}

// family strips the severity from an exception type: ImageMagick numbers
// them 3xx warning, 4xx error, 7xx fatal, with the same last two digits.
func family(kind imagick.ExceptionType) imagick.ExceptionType { return kind % 100 }

// classify is classify for the job's context and the first non-nil of errs
// (all evaluated first, so it only groups calls that are harmless after a
// failed one, such as setting options on a wand); nil when all are nil.
// Every error an ImageMagick call returns goes through it, because Process
// promises that only a retry can help with the errors it returns.
func (j *job) classify(what string, errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return classify(j.ctx, what, err)
		}
	}
	return nil
}

// derive makes derived, which an ImageMagick call made from the job's wand
// (CoalesceImages, OptimizeImageLayers), the job's wand. Such calls return a
// wand around nothing when they fail; the failure is then classified.
func (j *job) derive(what string, derived *imagick.MagickWand) error {
	if !derived.IsVerified() {
		// Never destroyed, so never uncounted: Terminate waits for the count.
		derived.DecreaseCount()
		if err := j.mw.GetLastError(); err != nil {
			return j.classify(what, err)
		}
		return reject(outcome.ReasonCorrupt, "%s: ImageMagick returned no image", what)
	}
	j.setWand(derived)
	return nil
}

// classify turns an ImageMagick failure into the pipeline's outcome: a
// rejection naming what was wrong with the image, or, when the time limit
// derived from ctx's deadline ran out, a retryable error. Errors that did not
// come from ImageMagick (none of its calls returns one) are returned as they
// are. what names the failing operation ("decode", "encode jpeg").
func classify(ctx context.Context, what string, err error) error {
	kind, msg, ok := exception(err)
	if !ok {
		return fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case strings.Contains(strings.ToLower(msg), "time limit exceeded"):
		if _, hasDeadline := ctx.Deadline(); hasDeadline {
			return fmt.Errorf("%s: ImageMagick's time limit, set from the deadline, ran out (%s): %w", what, msg, context.DeadlineExceeded)
		}
		return reject(outcome.ReasonTooSlow, "%s: %s", what, msg)
	case strings.Contains(strings.ToLower(msg), "list length exceeds limit"):
		return reject(outcome.ReasonTooManyFrames, "%s: %s", what, msg)
	case family(kind) == family(imagick.ERROR_RESOURCE_LIMIT) || tooLarge(msg):
		return reject(outcome.ReasonTooLarge, "%s: %s", what, msg)
	case family(kind) == family(imagick.ERROR_POLICY):
		return reject(outcome.ReasonPolicyDenied, "%s: %s", what, msg)
	}
	// Everything else, including "no decode delegate" for bytes whose magic
	// the allowlist accepted, means the file is damaged.
	return reject(outcome.ReasonCorrupt, "%s: %s", what, msg)
}

// tooLarge recognises limit messages that ImageMagick and libpng throw under
// other exception types (ImageError "width or height exceeds limit" and
// CacheError "cache resources exhausted" from the pixel cache, libpng's
// "exceeds user limit").
func tooLarge(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range []string{"exceeds limit", "exceeds user limit", "memory allocation failed", "cache resources exhausted"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
