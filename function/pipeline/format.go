package pipeline

import (
	"bytes"
	"encoding/binary"
	"path"
	"slices"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
)

// format is an image format the pipeline reads or writes.
type format struct {
	name        string // as in Result.FormatIn/FormatOut and config.Settings.OutputFormat
	magick      string // ImageMagick's coder name (policy rules are case-sensitive)
	contentType string
	ext         string // file extension for a converted output
}

var (
	formatJPEG = format{"jpeg", "JPEG", "image/jpeg", ".jpg"}
	formatPNG  = format{"png", "PNG", "image/png", ".png"}
	formatWebP = format{"webp", "WEBP", "image/webp", ".webp"}
	formatGIF  = format{"gif", "GIF", "image/gif", ".gif"}
	formatTIFF = format{"tiff", "TIFF", "image/tiff", ".tif"}
	formatHEIC = format{"heic", "HEIC", "image/heic", ".heic"}
	formatAVIF = format{"avif", "AVIF", "image/avif", ".avif"}
)

// outputFormats are the values of config.Settings.OutputFormat.
var outputFormats = map[string]format{"jpeg": formatJPEG, "png": formatPNG, "webp": formatWebP}

// byExtension names the format a file name claims, for ExpectedExtension only.
var byExtension = map[string]format{
	".jpg": formatJPEG, ".jpeg": formatJPEG, ".png": formatPNG, ".webp": formatWebP, ".gif": formatGIF,
	".tif": formatTIFF, ".tiff": formatTIFF, ".heic": formatHEIC, ".heif": formatHEIC, ".avif": formatAVIF,
}

// outputFormat is the format an input of format in is written as.
func outputFormat(in format, s config.Settings) format {
	if out, ok := outputFormats[s.OutputFormat]; ok {
		return out
	}
	if in == formatHEIC || in == formatAVIF {
		// Browsers show JPEG everywhere; HEIC hardly anywhere.
		return formatJPEG
	}
	return in
}

// ExpectedExtension is the Result.Extension that Process gives a file whose
// name tells its format truly: what a caller can know before reading the bytes
// (the handler looks for an earlier output there). Process itself never
// trusts the name.
func ExpectedExtension(name string, s config.Settings) string {
	in, known := byExtension[strings.ToLower(path.Ext(name))]
	if !known {
		return outputFormats[s.OutputFormat].ext
	}
	if out := outputFormat(in, s); out != in {
		return out.ext
	}
	return ""
}

// sniff identifies the format by its magic bytes; the file name is never
// consulted. ok is false for anything outside the allowlist; then other names
// a recognised but refused format ("svg", "pdf", ...) or is "".
func sniff(b []byte) (f format, ok bool, other string) {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return formatJPEG, true, ""
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return formatPNG, true, ""
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return formatGIF, true, ""
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return formatWebP, true, ""
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return formatTIFF, true, ""
	}
	if brand := heifBrand(b); brand != "" {
		return map[string]format{"heic": formatHEIC, "avif": formatAVIF}[brand], true, ""
	}
	return format{}, false, refusedFormat(b)
}

// heifBrand returns "avif" or "heic" for an ISO-BMFF file whose ftyp box
// names an AVIF or HEIF brand, else "".
func heifBrand(b []byte) string {
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
		return "avif"
	case slices.ContainsFunc(brands, func(s string) bool {
		return slices.Contains([]string{"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1"}, s)
	}):
		return "heic"
	}
	return ""
}

// refusedFormat names formats people upload that the allowlist refuses, so the
// rejection reason says what the file is. ImageMagick could read several of
// them (SVG and MVG run drawing commands, PostScript and PDF need Ghostscript):
// they are exactly what the allowlist and the security policy keep out.
func refusedFormat(b []byte) string {
	// ASCII-only lowering keeps binary magic bytes intact.
	head := bytes.Clone(bytes.TrimLeft(b[:min(len(b), 512)], " \t\r\n\ufeff"))
	for i, c := range head {
		if 'A' <= c && c <= 'Z' {
			head[i] = c + 'a' - 'A'
		}
	}
	for _, m := range []struct{ prefix, name string }{
		{"%pdf", "pdf"}, {"%!ps", "postscript"}, {"\xc5\xd0\xd3\xc6", "postscript"},
		{"<svg", "svg"}, {"<?xml", "xml/svg"}, {"push graphic-context", "mvg"}, {"viewbox", "mvg"},
		{"bm", "bmp"}, {"8bps", "psd"}, {"\x00\x00\x01\x00", "ico"},
		{"\xff\x0a", "jpeg xl"}, {"\x00\x00\x00\x0cjxl ", "jpeg xl"}, {"\x00\x00\x00\x0cjp2 ", "jpeg 2000"},
		{"ii+\x00", "bigtiff"}, {"mm\x00+", "bigtiff"},
	} {
		if bytes.HasPrefix(head, []byte(m.prefix)) {
			return m.name
		}
	}
	return ""
}
