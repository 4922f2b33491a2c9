package pipeline

import (
	"math"
	"slices"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// orient applies the EXIF orientation to the pixels, so the output needs no
// orientation tag (strip removes EXIF next).
func orient(j *job) error {
	return eachFrame(j.mw, func() error {
		return j.classify("orient", j.mw.AutoOrientImage())
	})
}

// colour converts CMYK to sRGB, the only colour space browsers assume. The
// conversion is ImageMagick's CMYK->sRGB formula (libjpeg's Adobe inversion
// is already undone by the decoder); an embedded CMYK ICC profile is dropped,
// since it no longer describes the pixels. Colour-managed conversion through
// that profile would be closer for print-profiled files, but needs an sRGB
// target profile the layer does not ship. RGB and grey images keep their
// ICC profile untouched, so colour-managed viewers render them as before.
//
// An output format without alpha (JPEG) gets transparent areas flattened
// onto white instead of whatever colour the transparent pixels happen to hold.
func colour(j *job) error {
	return eachFrame(j.mw, func() error {
		if j.mw.GetImageColorspace() == imagick.COLORSPACE_CMYK {
			if err := j.mw.TransformImageColorspace(imagick.COLORSPACE_SRGB); err != nil {
				return j.classify("convert CMYK to sRGB", err)
			}
			j.mw.RemoveImageProfile("icc")
			j.mw.RemoveImageProfile("icm")
		}
		if j.outFmt == outcome.JPEG && j.mw.GetImageAlphaChannel() {
			white := imagick.NewPixelWand()
			defer white.Destroy()
			white.SetColor("white")
			if err := j.mw.SetImageBackgroundColor(white); err != nil {
				return j.classify("flatten alpha", err)
			}
			return j.classify("flatten alpha", j.mw.SetImageAlphaChannel(imagick.ALPHA_CHANNEL_REMOVE))
		}
		return nil
	})
}

// privateProperties are the image properties that carry private metadata:
// EXIF (incl. GPS), XMP, IPTC and Photoshop fields, comments, and the TIFF
// tags naming people, devices and times. Writers copy some of them into the
// output (JPEG and GIF comments, TIFF tags and EXIF directories).
var privateProperties = []string{
	"exif:*", "xmp:*", "iptc:*", "8bim:*", "photoshop:*", "comment", "label", "caption",
	"tiff:artist", "tiff:copyright", "tiff:document", "tiff:hostcomputer", "tiff:make",
	"tiff:model", "tiff:software", "tiff:timestamp", "kodak-*",
}

// readerProperties describe how the input was encoded; left in place, the
// JPEG writer would reuse the input's sampling factors instead of the
// configured ones.
var readerProperties = []string{"jpeg:*"}

// keptProfiles are the only profiles an output keeps: the colour profile.
var keptProfiles = []string{"icc", "icm"}

// stripMetadata removes every profile except the colour profile (EXIF, XMP,
// IPTC, 8BIM, ...) and the private properties. It does not call StripImage,
// which would drop the colour profile and, for PNG, the gAMA/cHRM/sRGB chunks.
// The PNG writer is told separately not to write text and time chunks.
func stripMetadata(j *job) error {
	return eachFrame(j.mw, func() error {
		for _, name := range j.mw.GetImageProfiles("*") {
			if !slices.Contains(keptProfiles, name) {
				j.mw.RemoveImageProfile(name)
			}
		}
		for _, pattern := range slices.Concat(privateProperties, readerProperties) {
			for _, name := range j.mw.GetImageProperties(pattern) {
				if err := j.mw.DeleteImageProperty(name); err != nil {
					return j.classify("strip", err)
				}
			}
		}
		return nil
	})
}

// hasPrivate reports whether any frame carries a profile or property that
// stripMetadata would remove as private.
func hasPrivate(mw *imagick.MagickWand) bool {
	found := false
	_ = eachFrame(mw, func() error {
		for _, name := range mw.GetImageProfiles("*") {
			found = found || !slices.Contains(keptProfiles, name)
		}
		for _, pattern := range privateProperties {
			found = found || len(mw.GetImageProperties(pattern)) > 0
		}
		return nil
	})
	return found
}

// resize shrinks the image to fit MaxWidth x MaxHeight; it never enlarges.
// A GIF animation is coalesced first and all frames get the canvas's new
// size: resizing the partial frames of an optimised GIF one by one would
// misplace them. Pages of a TIFF are fitted one by one.
func resize(j *job) error {
	if j.s.MaxWidth == 0 && j.s.MaxHeight == 0 {
		return nil
	}
	animated := j.frames > 1 && j.inFmt == outcome.GIF
	if animated {
		cw, ch, _, _, err := j.mw.GetImagePage()
		if err != nil {
			return j.classify("resize", err)
		}
		tw, th := fitSize([2]int{int(cw), int(ch)}, j.s.MaxWidth, j.s.MaxHeight)
		if tw == int(cw) && th == int(ch) {
			return nil
		}
		if err := j.derive("coalesce", j.mw.CoalesceImages()); err != nil {
			return err
		}
		return eachFrame(j.mw, func() error { return resizeFrame(j, tw, th) })
	}
	return eachFrame(j.mw, func() error {
		w, h := int(j.mw.GetImageWidth()), int(j.mw.GetImageHeight())
		tw, th := fitSize([2]int{w, h}, j.s.MaxWidth, j.s.MaxHeight)
		if tw == w && th == h {
			return nil
		}
		return resizeFrame(j, tw, th)
	})
}

func resizeFrame(j *job, w, h int) error {
	return j.classify("resize", j.mw.ResizeImage(uint(w), uint(h), imagick.FILTER_LANCZOS))
}

// eachFrame calls fn with the wand's iterator on each frame in turn.
func eachFrame(mw *imagick.MagickWand, fn func() error) error {
	for i := range int(mw.GetNumberImages()) {
		mw.SetIteratorIndex(i)
		if err := fn(); err != nil {
			return err
		}
	}
	mw.ResetIterator()
	return nil
}

// fitSize scales size down to fit maxW x maxH (0 = unbounded), keeping the
// aspect ratio; sizes that already fit are returned unchanged.
func fitSize(size [2]int, maxW, maxH int) (int, int) {
	w, h := size[0], size[1]
	scale := 1.0
	if maxW > 0 && w > maxW {
		scale = float64(maxW) / float64(w)
	}
	if maxH > 0 && h > maxH {
		scale = math.Min(scale, float64(maxH)/float64(h))
	}
	if scale >= 1 {
		return w, h
	}
	return max(1, int(math.Round(float64(w)*scale))), max(1, int(math.Round(float64(h)*scale)))
}

// swapsSides reports whether an EXIF orientation turns the image by 90°.
func swapsSides(o imagick.OrientationType) bool {
	return o == imagick.ORIENTATION_LEFT_TOP || o == imagick.ORIENTATION_RIGHT_TOP ||
		o == imagick.ORIENTATION_RIGHT_BOTTOM || o == imagick.ORIENTATION_LEFT_BOTTOM
}

// displayedSize is the header's size once the orientation is applied.
func displayedSize(h header) [2]int {
	if swapsSides(h.orientation) {
		return [2]int{h.height, h.width}
	}
	return [2]int{h.width, h.height}
}

// storedSize turns a displayed size back into the stored orientation.
func storedSize(h header, w, ht int) (int, int) {
	if swapsSides(h.orientation) {
		return ht, w
	}
	return w, ht
}
