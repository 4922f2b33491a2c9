package pipeline

/*
#cgo pkg-config: MagickCore
#include <MagickCore/MagickCore.h>
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// quantumBytes is the size of one channel of one pixel in ImageMagick's
// pixel cache: 1 in the layer's Q8 build.
const quantumBytes = int64(C.sizeof_Quantum)

// imagick v3.7.2 names only the resource types ImageMagick 6 had; ImageMagick
// 7 adds width, height and list length, which bound a decode before it starts.
const (
	resourceWidth      = imagick.ResourceType(C.WidthResource)
	resourceHeight     = imagick.ResourceType(C.HeightResource)
	resourceListLength = imagick.ResourceType(C.ListLengthResource)
)

var (
	// limitsMu serialises setting the process-wide resource limits: Process
	// calls running at once share them, so they must use the same settings
	// (as the Lambda and the CLI do), and the latest deadline wins.
	limitsMu sync.Mutex
	state    struct {
		sync.Mutex
		initialized  bool
		memoryBytes  int64                    // the caller's memory size, for Limits.MemoryBytes == 0
		inputFormats map[outcome.Format]bool  // allowlisted formats this ImageMagick can read
		writable     map[outcome.Format]error // formats tried by canWrite: nil if writable
	}
)

// requiredFormats must be readable and writable; HEIC and AVIF are read when
// the build has them.
var (
	requiredFormats = []outcome.Format{outcome.JPEG, outcome.PNG, outcome.WebP, outcome.GIF, outcome.TIFF}
	optionalFormats = []outcome.Format{outcome.HEIC, outcome.AVIF}
	// refusedCoders must not be registered at all: their presence means the
	// project's policy.xml is not in force (ImageMagick then runs unrestricted).
	refusedCoders = []string{"MVG", "MSL", "SVG", "PS", "EPS", "PDF", "XPS", "TXT", "TEXT", "URL", "HTTPS", "EPHEMERAL", "INLINE"}
)

// Initialize starts ImageMagick once per process and checks that it is the
// build the project expects: the allowlisted coders present, the dangerous
// ones absent. memoryBytes is the memory the process may use (the Lambda's
// AWS_LAMBDA_FUNCTION_MEMORY_SIZE in bytes, 0 if unknown); when a Settings'
// Limits.MemoryBytes is 0, ImageMagick's pixel budget comes from it
// (pixelBudget).
func Initialize(memoryBytes int64) error {
	if memoryBytes < 0 {
		return fmt.Errorf("pipeline: memory size %d is negative", memoryBytes)
	}
	state.Lock()
	defer state.Unlock()
	imagick.Initialize()
	mw := imagick.NewMagickWand()
	defer mw.Destroy()
	registered := func(name string) bool { return len(mw.QueryFormats(name)) > 0 }

	for _, name := range refusedCoders {
		if registered(name) {
			return fmt.Errorf("pipeline: ImageMagick registers the %s coder: the project's security policy (policy.xml) is not in force", name)
		}
	}
	formats := map[outcome.Format]bool{}
	for _, f := range requiredFormats {
		if !registered(coders[f]) {
			return fmt.Errorf("pipeline: ImageMagick lacks the %s coder", coders[f])
		}
		formats[f] = true
	}
	for _, f := range optionalFormats {
		formats[f] = registered(coders[f])
	}
	state.initialized = true
	state.memoryBytes = memoryBytes
	state.inputFormats = formats
	state.writable = map[outcome.Format]error{}
	return nil
}

// Terminate releases ImageMagick; call it once at shutdown, after the last
// Process has returned.
func Terminate() {
	state.Lock()
	defer state.Unlock()
	if state.initialized {
		imagick.Terminate()
		state.initialized = false
	}
}

var errNotInitialized = errors.New("pipeline: Initialize was not called")

func readableFormats() (map[outcome.Format]bool, error) {
	state.Lock()
	defer state.Unlock()
	if !state.initialized {
		return nil, errNotInitialized
	}
	return state.inputFormats, nil
}

// budget is what ImageMagick may use for pixels: bytes in its heap, in
// anonymous maps (the policy maps the pixel cache anonymously, so that is
// memory too), and on disk. Zero values are unbounded (the policy's
// ceilings apply).
type budget struct{ heap, mapped, disk int64 }

// lambdaTmpBytes is the pixel cache's share of Lambda's /tmp: its default
// 512 MB, less room for anything else written there.
const lambdaTmpBytes = 448 << 20

// pixelBudget splits the memory a process may use (Initialize's memory
// size): a quarter for ImageMagick's heap and an eighth for its maps; the
// rest stays for the Go heap (the upload and its encoded output), the
// libraries and the decoders that allocate outside ImageMagick's accounting
// (libwebp and libheif decode a whole image into one buffer), and the page
// cache of the disk cache, which lives in Lambda's /tmp. Limits.MemoryBytes
// sets the heap share instead, with maps half of it and four times it on
// disk. Measured at 256 MB by test/lambda: a larger share gets the
// function killed by the kernel on the largest images the limits allow.
func pixelBudget(l config.Limits) budget {
	state.Lock()
	memory := state.memoryBytes
	state.Unlock()
	switch {
	case l.MemoryBytes > 0:
		return budget{l.MemoryBytes, l.MemoryBytes / 2, 4 * l.MemoryBytes}
	case memory > 0:
		return budget{memory / 4, memory / 8, lambdaTmpBytes}
	}
	return budget{}
}

func (b budget) bounded() bool { return b.heap > 0 }

func (b budget) total() int64 { return b.heap + b.mapped + b.disk }

// applyLimits sets ImageMagick's process-wide resource limits from the
// settings and the time left before ctx's deadline. ImageMagick takes the
// smaller of a limit and the policy's ceiling, so a setting can tighten the
// policy but never loosen it.
func applyLimits(ctx context.Context, l config.Limits) error {
	limits := []resourceLimit{
		{"width", resourceWidth, uint64(l.MaxDimension)},
		{"height", resourceHeight, uint64(l.MaxDimension)},
		{"area", imagick.RESOURCE_AREA, uint64(l.MaxPixels)},
		// ImageMagick allows fewer images than its list-length limit.
		{"list-length", resourceListLength, uint64(l.MaxFrames) + 1},
		{"time", imagick.RESOURCE_TIME, timeLimit(ctx)},
	}
	if b := pixelBudget(l); b.bounded() {
		limits = append(limits,
			resourceLimit{"memory", imagick.RESOURCE_MEMORY, uint64(b.heap)},
			resourceLimit{"map", imagick.RESOURCE_MAP, uint64(b.mapped)},
			resourceLimit{"disk", imagick.RESOURCE_DISK, uint64(b.disk)},
		)
	}
	limitsMu.Lock()
	defer limitsMu.Unlock()
	for _, lim := range limits {
		if !imagick.SetResourceLimit(lim.kind, lim.value) {
			return fmt.Errorf("pipeline: ImageMagick refused the %s limit %d", lim.name, lim.value)
		}
	}
	return nil
}

type resourceLimit struct {
	name  string
	kind  imagick.ResourceType
	value uint64
}

// timeLimit is ImageMagick's TIME limit in whole seconds: what is left of
// ctx's deadline, at least 1, or unlimited (the policy's ceiling applies).
func timeLimit(ctx context.Context) uint64 {
	deadline, ok := ctx.Deadline()
	if !ok {
		return math.MaxInt64
	}
	return uint64(max(1, math.Ceil(time.Until(deadline).Seconds())))
}
