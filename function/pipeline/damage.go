package pipeline

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// A damaged file can still decode: libjpeg warns and carries on, filling in
// what it could not read. Whether the image may be published is decided by
// what the decoder did, not by the presence of a warning. It may have
//   - invented pixels: run out of data (a truncated file, a scan cut short)
//     and filled the rest with grey, or met data it could not decode and
//     guessed: rejected;
//   - skipped bytes that are no image data (junk between segments, a
//     missing end marker, an unreadable metadata chunk): published.
const (
	// jpegShortfallBytes is how many bytes a JPEG scan may lack: encoders
	// that do not flush their last bits write scans a byte short, which
	// libjpeg reports as "premature end of data segment" and completes with
	// zero bits: at most the last few codes of the scan are filled in.
	jpegShortfallBytes = 2
	// jpegUnusedBytes is how many bytes of a scan's data the decoder may
	// leave unread after its last block (a stray byte before EOI, as some
	// writers leave). More means the data did not decode as it was written.
	jpegUnusedBytes = 32
)

// judgeDecode decides about the warning a successful decode left (nil for
// none). A JPEG it accepts despite junk between segments or a missing EOI
// continues as libjpeg read it (jpegLayout.intact), so that a kept original
// is published with its container intact. decodeFrom, when not nil, is what
// the pixels must be decoded from instead: the JPEG with the few missing
// bytes of a short scan completed by zero bits, as libjpeg-turbo would fill
// them (jpegli leaves the blocks they belong to grey).
func judgeDecode(j *job, warning error) (decodeFrom []byte, err error) {
	if warning == nil {
		return nil, nil
	}
	kind, msg, ok := exception(warning)
	switch {
	case !ok:
		return nil, fmt.Errorf("decode: %w", warning)
	case kind == 0:
		return nil, reject(outcome.ReasonCorrupt, "decode: a warning of a type this build does not know may hide data corruption: %s", msg)
	case j.inFmt == outcome.JPEG && kind >= imagick.WARNING_CORRUPT_IMAGE:
		// The wand shows one warning of the highest severity: a libjpeg
		// warning may be among the others.
		v, err := judgeJPEG(j.in)
		if err == nil && v.repair != "" {
			j.in, j.repair = v.intact, joinNonEmpty(j.repair, v.repair)
		}
		return v.decodeFrom, err
	case kind == imagick.WARNING_CORRUPT_IMAGE:
		return nil, reject(outcome.ReasonCorrupt, "decode: %s", msg)
	}
	// Warnings below that rank are about metadata: EXIF/XMP property parsing
	// (OptionWarning), XMP not validated (MissingDelegateWarning), libpng and
	// libtiff on ancillary chunks and tags they ignore (CoderWarning from
	// PNG, TIFF), an oversized profile (ResourceLimitWarning).
	return nil, nil
}

// jpegVerdict is judgeJPEG's acceptance: the file as libjpeg reads it, what
// that changed, and the bytes to decode the pixels from (nil: the file's).
type jpegVerdict struct {
	intact     []byte
	repair     string
	decodeFrom []byte
}

// What the JPEG decoder did, by its warning: libjpeg-turbo's (jerror.h), or
// jpegli's, which the layer's ImageMagick links (its own for the scan data,
// libjpeg-turbo's table for the rest).
type jpegEffect int

const (
	jpegUnknown  jpegEffect = iota
	jpegRanOut              // the data ended: the rest is zero-filled
	jpegGuessed             // undecodable data: the rest of the scan or interval is guessed
	jpegSkipped             // bytes that are no image data were skipped
	jpegHarmless            // a header field was ignored
)

var jpegWarnings = []struct {
	prefix string
	effect jpegEffect
}{
	{"Premature end of JPEG file", jpegRanOut},
	{"Corrupt JPEG data: premature end of data segment", jpegRanOut},
	{"Incomplete scan detected", jpegRanOut}, // jpegli: a marker before the scan's last block
	{"Corrupt JPEG data: bad Huffman code", jpegGuessed},
	{"Corrupt JPEG data: bad arithmetic code", jpegGuessed},
	{"Corrupt JPEG data: found marker", jpegGuessed}, // instead of the expected RST: intervals lost
	{"Invalid restart marker found", jpegGuessed},    // jpegli
	{"Failed to resync to next restart marker", jpegGuessed},
	{"Inconsistent progression sequence", jpegGuessed},
	{"Unknown Adobe color transform code", jpegGuessed}, // the colour transform is guessed
	{"Corrupt JPEG data: bad ICC marker", jpegHarmless}, // ImageMagick reads the profile itself
	{"Warning: unknown JFIF revision number", jpegHarmless},
	{"Invalid SOS parameters for sequential JPEG", jpegHarmless},
	{"Warning: thumbnail image size does not match data length", jpegHarmless},
}

var (
	// extraneous matches libjpeg-turbo's and jpegli's report of skipped
	// bytes: the count and, outside scan data, the marker they preceded.
	extraneous = regexp.MustCompile(`^(?:Corrupt JPEG data: (\d+) extraneous bytes before marker 0x([0-9a-f]{2})|Skipped (\d+) bytes before (?:marker 0x([0-9a-f]{2})|restart marker))`)
	// sourceLine is the "lib/jpegli/decode_scan.cc:535: " jpegli puts first.
	sourceLine = regexp.MustCompile(`^\S+\.cc:\d+: `)
)

func jpegWarning(msg string) (effect jpegEffect, unused int, marker byte) {
	msg = sourceLine.ReplaceAllString(msg, "")
	if m := extraneous.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1] + m[3])
		b, _ := strconv.ParseUint(m[2]+m[4], 16, 8)
		return jpegSkipped, n, byte(b)
	}
	for _, w := range jpegWarnings {
		if strings.HasPrefix(msg, w.prefix) {
			return w.effect, 0, 0
		}
	}
	return jpegUnknown, 0, 0
}

// judgeJPEG reads every warning of the decode and rejects the file when the
// decoder invented pixels.
func judgeJPEG(data []byte) (jpegVerdict, error) {
	layout := layoutJPEG(data)
	ranOut, skipped := "", ""
	for _, w := range readExceptions(data, "jpeg:size", scanOnly) {
		if w.kind >= imagick.EXCEPTION_ERROR {
			return jpegVerdict{}, reject(outcome.ReasonCorrupt, "decode: %s", w.msg)
		}
		if w.kind != imagick.WARNING_CORRUPT_IMAGE {
			continue
		}
		switch effect, unused, marker := jpegWarning(w.msg); effect {
		case jpegRanOut:
			if ranOut == "" {
				ranOut = w.msg
			}
		case jpegGuessed:
			return jpegVerdict{}, reject(outcome.ReasonCorrupt, "decode: %s: libjpeg cannot decode the data there and fills in the rest", w.msg)
		case jpegSkipped:
			if !layout.hasJunk(unused, marker) && unused > jpegUnusedBytes {
				return jpegVerdict{}, reject(outcome.ReasonCorrupt, "decode: %s: a scan ended with that much of its data unread, so it did not decode as it was written", w.msg)
			}
			skipped = w.msg
		case jpegUnknown:
			return jpegVerdict{}, reject(outcome.ReasonCorrupt, "decode: %s (a libjpeg warning this pipeline does not know)", w.msg)
		}
	}
	// A file cut between scans, or scans skipped with junk or a segment
	// running past the end, decode without running out of data into a
	// blurred or colourless image.
	if why := joinNonEmpty(ranOut, skipped, layout.brokenWhy); why != "" {
		if missing := layout.missingScans(); missing != "" {
			return jpegVerdict{}, reject(outcome.ReasonCorrupt, "decode: %s: scans are missing (%s), so the image shows less than it was encoded with", why, missing)
		}
	}
	// Zero bytes where each stretch of scan data stops: if libjpeg still runs
	// out, some stretch lacks more than that, and the rows after it are grey.
	var v jpegVerdict
	if ranOut != "" {
		padded := layout.padded(data, jpegShortfallBytes)
		for _, w := range readExceptions(padded, "jpeg:size", scanOnly) {
			if effect, _, _ := jpegWarning(w.msg); effect == jpegRanOut {
				return jpegVerdict{}, reject(outcome.ReasonCorrupt, "decode: %s: more than %d bytes of image data are missing, and libjpeg fills the rest with grey", ranOut, jpegShortfallBytes)
			}
		}
		v.decodeFrom = padded
	}
	v.intact, v.repair = layout.intact(data)
	return v, nil
}

func joinNonEmpty(parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), "; ")
}

// scanOnly asks libjpeg for its smallest scale (1/8) when a read is only for
// its warnings: the entropy decoder, which warns, does all its work, and the
// pixels cost 64 times less.
const scanOnly = "1x1"

// readablePart returns the image data of a file whose damage lies after it,
// completed into a valid file, with what was done: a PNG cut after its last
// complete IDAT chunk and closed with IEND (a missing IEND, a chunk cut short
// or with a wrong CRC after the image data: libpng fails after decoding every
// row, and ImageMagick then drops the image), a JPEG cut before a segment
// that runs past the end of the file after its last scan (ImageMagick fails
// reading it). ok is false when there is no such part.
func readablePart(f outcome.Format, data []byte) (part []byte, repair string, ok bool) {
	switch f {
	case outcome.PNG:
		return pngImageData(data)
	case outcome.JPEG:
		if l := layoutJPEG(data); l.broken > 0 && l.missingScans() == "" {
			part, repair := l.intact(data)
			return part, repair, true
		}
	}
	return nil, "", false
}

func pngImageData(data []byte) (part []byte, repair string, ok bool) {
	const signature = 8
	pos, idatEnd := signature, 0
	for pos+12 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		end := pos + 12 + n
		if end > len(data) {
			break
		}
		typ := data[pos+4 : pos+8]
		if idatEnd > 0 && binary.BigEndian.Uint32(data[end-4:]) != crc32.ChecksumIEEE(data[pos+4:end-4]) {
			break
		}
		if string(typ) == "IEND" {
			return nil, "", false
		}
		if string(typ) == "IDAT" {
			idatEnd = end
		}
		pos = end
	}
	if idatEnd == 0 {
		return nil, "", false
	}
	iend := []byte{0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82}
	return bytes.Join([][]byte{data[:idatEnd], iend}, nil), "the chunks after the last IDAT replaced by IEND", true
}
