package outcome

import (
	"bytes"
	"encoding/binary"
	"path"
	"slices"
	"strings"
)

// Format is an image format, by the name settings, results and logs use.
type Format string

// The formats the compressor reads. It writes all but HEIC.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	WebP Format = "webp"
	GIF  Format = "gif"
	TIFF Format = "tiff"
	HEIC Format = "heic"
	AVIF Format = "avif"
)

// formatRow is what the table knows of one format.
type formatRow struct {
	format      Format
	contentType string
	extensions  []string // lower-case; the first is what an output gets
}

// formats is the table behind the methods, in the order of Formats.
var formats = []formatRow{
	{JPEG, "image/jpeg", []string{".jpg", ".jpeg"}},
	{PNG, "image/png", []string{".png"}},
	{WebP, "image/webp", []string{".webp"}},
	{GIF, "image/gif", []string{".gif"}},
	{TIFF, "image/tiff", []string{".tif", ".tiff"}},
	{HEIC, "image/heic", []string{".heic"}},
	{AVIF, "image/avif", []string{".avif"}},
}

// Formats lists every format the compressor reads.
func Formats() []Format {
	all := make([]Format, len(formats))
	for i, row := range formats {
		all[i] = row.format
	}
	return all
}

// ConversionTargets are the formats every image can be converted to: the
// values of config.Output.Format besides "original" (the upload's own).
// Writing AVIF needs an AV1 encoder in the ImageMagick build.
func ConversionTargets() []Format { return []Format{JPEG, PNG, WebP, AVIF} }

// ContentType is f's media type, "" for an unknown format.
func (f Format) ContentType() string {
	if i := f.index(); i >= 0 {
		return formats[i].contentType
	}
	return ""
}

// Extension is the file extension an output in f gets (".jpg" for JPEG),
// "" for an unknown format.
func (f Format) Extension() string {
	if ext := f.Extensions(); len(ext) > 0 {
		return ext[0]
	}
	return ""
}

// Extensions are the lower-case file extensions that name f, Extension first.
func (f Format) Extensions() []string {
	if i := f.index(); i >= 0 {
		return slices.Clone(formats[i].extensions)
	}
	return nil
}

func (f Format) index() int {
	return slices.IndexFunc(formats, func(row formatRow) bool { return row.format == f })
}

// Named returns the format a file name claims by its extension, in any case.
func Named(name string) (Format, bool) {
	ext := strings.ToLower(path.Ext(name))
	for _, row := range formats {
		if slices.Contains(row.extensions, ext) {
			return row.format, true
		}
	}
	return "", false
}

// Written is the format an input in f is written as by an output of format
// target ("" is an "original" output: the input's format, except that HEIC
// and AVIF, which not every browser shows, become JPEG, which every browser
// shows).
func Written(f, outputFormat Format) Format {
	switch {
	case outputFormat != "":
		return outputFormat
	case f == HEIC || f == AVIF:
		return JPEG
	}
	return f
}

// Sniff identifies a format by its magic bytes; a file name is never
// consulted. ok is false for anything that is none of Formats.
func Sniff(b []byte) (f Format, ok bool) {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG, true
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return PNG, true
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return GIF, true
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return WebP, true
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return TIFF, true
	}
	f = heifBrand(b)
	return f, f != ""
}

// heifBrand returns AVIF or HEIC for an ISO-BMFF file whose ftyp box names
// an AVIF or HEIF brand, else "".
func heifBrand(b []byte) Format {
	if len(b) < 16 || string(b[4:8]) != "ftyp" {
		return ""
	}
	size := int(binary.BigEndian.Uint32(b))
	if size < 16 || size > len(b) {
		return ""
	}
	// Major brand, minor version, compatible brands.
	brands := []string{string(b[8:12])}
	for p := 16; p+4 <= size; p += 4 {
		brands = append(brands, string(b[p:p+4]))
	}
	switch {
	case slices.Contains(brands, "avif") || slices.Contains(brands, "avis"):
		return AVIF
	case slices.ContainsFunc(brands, func(s string) bool {
		return slices.Contains([]string{"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"}, s)
	}):
		return HEIC
	}
	return ""
}
