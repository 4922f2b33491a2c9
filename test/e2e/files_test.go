package e2e_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/test/corpus"
	"github.com/s3-image-compressor/s3-image-compressor/test/corpus/corpustest"
)

// upload is one object the tests put into the source bucket.
type upload struct {
	key  string
	data []byte
}

// makeImage renders one image with ImageMagick, e.g. makeImage(t, magick, "x.png", "logo:").
func makeImage(t *testing.T, magick, name string, args ...string) []byte {
	t.Helper()
	return corpustest.Read(t, corpustest.Image(t, magick, name, args...))
}

// damaged are the corpus's categories of files made to be rejected.
var damaged = []string{corpus.Malformed, corpus.Bomb, "pngsuite-broken"}

// goodImages are at least n valid images of every format the function takes:
// the corpus's photos, PNGs, GIFs, WebPs, HEIC/AVIF, then its PNG
// conformance files, or, without the corpus, the generated images, each
// uploaded under several keys.
func goodImages(t *testing.T, images []corpus.Image, n int) []upload {
	t.Helper()
	var picked, suite []upload
	for _, im := range images {
		u := upload{"uploads/burst/" + im.Name, corpustest.Read(t, im)}
		switch {
		case slices.Contains(damaged, im.Category):
		case im.Category == "pngsuite":
			suite = append(suite, u)
		default:
			picked = append(picked, u)
		}
	}
	for i := 0; len(picked) < n && i < len(suite); i++ {
		picked = append(picked, suite[i])
	}
	if len(picked) == 0 {
		t.Fatal("no valid image among the test images")
	}
	for i, distinct := 0, len(picked); len(picked) < n; i++ {
		u := picked[i%distinct]
		picked = append(picked, upload{fmt.Sprintf("uploads/burst/copy-%02d-%s", i, u.key[len("uploads/burst/"):]), u.data})
	}
	return picked
}

// hostileFiles must all be rejected with a reason: documents that ImageMagick
// would happily interpret (SVG, MVG, PostScript) under an image suffix, files
// that are no image at all, and corrupt files and decompression bombs (chosen
// ones from the corpus, or the generated ones).
func hostileFiles(t *testing.T, images []corpus.Image, generated bool) []upload {
	t.Helper()
	files := []upload{
		{"uploads/hostile/svg-disguised.png", []byte(`<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="640" height="480">
<image xlink:href="file:///etc/passwd" width="640" height="480"/></svg>`)},
		{"uploads/hostile/mvg-disguised.png", []byte("push graphic-context\nviewbox 0 0 640 480\n" +
			"image over 0,0 0,0 'text:/etc/passwd'\npop graphic-context\n")},
		{"uploads/hostile/postscript-disguised.jpg", []byte("%!PS-Adobe-3.0\n/Helvetica findfont 24 scalefont setfont\n" +
			"72 720 moveto (hello) show showpage\n")},
		{"uploads/hostile/text.jpg", []byte("this is not an image, only text with an image suffix\n")},
		{"uploads/hostile/empty.png", nil},
	}
	chosen := []string{
		"gen_bomb_png_65535x65535_rgba_truncated.png", // 65535x65535 declared in 334 bytes
		"gen_bomb_gif_65535x65535.gif",
		"pngsuite_xs1n0g01.png",                                            // bad signature
		"pngsuite_xd0n2c08.png",                                            // bad bit depth
		"mdx_its_jpg_551c2656a4f6f9f5ea7e9945b9081202.jpg",                 // bogus Huffman table
		"libheif_fuzz_crash-20ca2625096a205937b809a7841e7f019f0b2dc6.heic", // fuzzer crash case
		"imagers_zero-loop-count.gif",                                      // zero image size
	}
	literal := len(files)
	for _, im := range images {
		if slices.Contains(chosen, im.Name) || generated && slices.Contains(damaged, im.Category) {
			files = append(files, upload{"uploads/hostile/" + im.Name, corpustest.Read(t, im)})
		}
	}
	if found := len(files) - literal; !generated && found != len(chosen) {
		t.Fatalf("%d of the %d chosen corpus files found", found, len(chosen))
	}
	return files
}
