package outcome_test

import (
	"slices"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

func TestStored(t *testing.T) {
	for d, want := range map[outcome.Decision]bool{
		outcome.Compressed: true, outcome.KeptOriginal: true,
		outcome.Rejected: false, outcome.Skipped: false, outcome.Failed: false, outcome.Deleted: false,
	} {
		if got := d.Stored(); got != want {
			t.Errorf("%s.Stored() = %v, want %v", d, got, want)
		}
	}
}

func TestWord(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{
		{outcome.Because(outcome.ReasonCorrupt, "decode: Premature end of JPEG file"), outcome.ReasonCorrupt},
		{"not an image: the first bytes (74 65) match no allowed image format", outcome.ReasonNotImage},
		{"not an ObjectCreated event: \"ObjectRemoved:Delete\"", outcome.ReasonNotCreated},
		{"larger: converted heic to jpeg", outcome.ReasonLarger},
		{"still current: version abc of the key is current", outcome.ReasonStillCurrent},
		{"source deleted: no version is current", outcome.ReasonSourceDeleted},
		{"corrupt", ""},         // a word alone has no details
		{"corruption: x", ""},   // not a word
		{"get s3://a/b: x", ""}, // a Failed record's error
		{"", ""},
	} {
		if got := outcome.Word(tc.reason); got != tc.want {
			t.Errorf("Word(%q) = %q, want %q", tc.reason, got, tc.want)
		}
	}
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		f                      outcome.Format
		contentType, extension string
	}{
		{outcome.JPEG, "image/jpeg", ".jpg"},
		{outcome.PNG, "image/png", ".png"},
		{outcome.WebP, "image/webp", ".webp"},
		{outcome.GIF, "image/gif", ".gif"},
		{outcome.TIFF, "image/tiff", ".tif"},
		{outcome.HEIC, "image/heic", ".heic"},
		{outcome.AVIF, "image/avif", ".avif"},
		{"bmp", "", ""},
	} {
		if got := tc.f.ContentType(); got != tc.contentType {
			t.Errorf("%q.ContentType() = %q, want %q", tc.f, got, tc.contentType)
		}
		if got := tc.f.Extension(); got != tc.extension {
			t.Errorf("%q.Extension() = %q, want %q", tc.f, got, tc.extension)
		}
	}
	if got := len(outcome.Formats()); got != 7 {
		t.Errorf("Formats() lists %d formats, want 7", got)
	}
	for _, f := range outcome.ConversionTargets() {
		if !slices.Contains(outcome.Formats(), f) {
			t.Errorf("conversion target %q is not one of Formats()", f)
		}
	}
}

func TestNamed(t *testing.T) {
	for _, tc := range []struct {
		name string
		want outcome.Format
		ok   bool
	}{
		{"uploads/a.jpeg", outcome.JPEG, true},
		{"a.JPG", outcome.JPEG, true},
		{"scan.TIFF", outcome.TIFF, true},
		{"IMG_1.HEIC", outcome.HEIC, true},
		{"a.jpg.txt", "", false},
		{"no-extension", "", false},
	} {
		if got, ok := outcome.Named(tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("Named(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWritten(t *testing.T) {
	for _, tc := range []struct{ in, configured, want outcome.Format }{
		{outcome.PNG, "", outcome.PNG},
		{outcome.HEIC, "", outcome.JPEG},
		{outcome.AVIF, "", outcome.JPEG},
		{outcome.GIF, outcome.WebP, outcome.WebP},
		{outcome.HEIC, outcome.PNG, outcome.PNG},
	} {
		if got := outcome.Written(tc.in, tc.configured); got != tc.want {
			t.Errorf("Written(%q, %q) = %q, want %q", tc.in, tc.configured, got, tc.want)
		}
	}
}

func TestSniff(t *testing.T) {
	for head, want := range map[string]outcome.Format{
		"\xff\xd8\xff\xe0rest":         outcome.JPEG,
		"\x89PNG\r\n\x1a\nrest":        outcome.PNG,
		"GIF89a":                       outcome.GIF,
		"GIF87a":                       outcome.GIF,
		"RIFF\x00\x00\x00\x00WEBPVP8 ": outcome.WebP,
		"II*\x00":                      outcome.TIFF, // little-endian
		"MM\x00*":                      outcome.TIFF, // big-endian
		"\x00\x00\x00\x10ftypavif\x00\x00\x00\x00":     outcome.AVIF,
		"\x00\x00\x00\x10ftypheic\x00\x00\x00\x00":     outcome.HEIC,
		"\x00\x00\x00\x14ftypXXXX\x00\x00\x00\x00mif1": outcome.HEIC, // by a compatible brand
		"\x00\x00\x00\x10ftypisom\x00\x00\x00\x00":     "",           // MP4 is not an image
		"\x00\x00\x01\x00ftypheic\x00\x00\x00\x00":     "",           // an ftyp box longer than the file
		"II+\x00": "", // BigTIFF
		"hello":   "",
		"":        "",
	} {
		got, ok := outcome.Sniff([]byte(head))
		if got != want || ok != (want != "") {
			t.Errorf("Sniff(%q) = %q, %v; want %q", head, got, ok, want)
		}
	}
}
