package pipeline

import (
	"bytes"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// coders are ImageMagick's names of the formats (policy rules are
// case-sensitive: "WEBP", not "webp").
var coders = map[outcome.Format]string{
	outcome.JPEG: "JPEG", outcome.PNG: "PNG", outcome.WebP: "WEBP", outcome.GIF: "GIF",
	outcome.TIFF: "TIFF", outcome.HEIC: "HEIC", outcome.AVIF: "AVIF",
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
