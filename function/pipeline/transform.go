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
func colour(j *job) error {
	return eachFrame(j.mw, func() error {
		if j.mw.GetImageColorspace() == imagick.COLORSPACE_CMYK {
			if err := j.mw.TransformImageColorspace(imagick.COLORSPACE_SRGB); err != nil {
				return j.classify("convert CMYK to sRGB", err)
			}
			j.mw.RemoveImageProfile("icc")
			j.mw.RemoveImageProfile("icm")
		}
		return nil
	})
}

// flatten gives an output format without alpha (JPEG) transparent areas
// flattened onto white instead of whatever colour the transparent pixels
// happen to hold.
func flatten(j *job) error {
	if j.outFmt != outcome.JPEG {
		return nil
	}
	return eachFrame(j.mw, func() error {
		if !j.mw.GetImageAlphaChannel() {
			return nil
		}
		white := imagick.NewPixelWand()
		defer white.Destroy()
		white.SetColor("white")
		if err := j.mw.SetImageBackgroundColor(white); err != nil {
			return j.classify("flatten alpha", err)
		}
		return j.classify("flatten alpha", j.mw.SetImageAlphaChannel(imagick.ALPHA_CHANNEL_REMOVE))
	})
}

// animation keeps originals whose frames the output cannot hold (an output
// in another format is skipped instead, see Image.Render). An APNG decodes
// as its default image alone, so it is never re-encoded. Other multi-frame
// files are re-encoded whole only into their own format where ImageMagick
// writes every frame back (GIF animations, multi-page TIFF).
func animation(j *job) error {
	if j.animatedPNG {
		return keep(outcome.ReasonAnimatedPNG, "an APNG (acTL chunk) would lose its animation when re-encoded")
	}
	if j.frames > 1 && !(j.inFmt == j.outFmt && (j.inFmt == outcome.GIF || j.inFmt == outcome.TIFF)) {
		return keep(outcome.ReasonMultiFrame, "%d frames of %s are not re-encoded as %s", j.frames, j.inFmt, j.outFmt)
	}
	return nil
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

// resize shrinks the output to fit its MaxWidth x MaxHeight; it never
// enlarges. A JPEG the decoder scaled down is fitted from its size as
// stored, so the output has exactly the size a full decode would give. A GIF
// animation is coalesced first and all frames get the canvas's new size:
// resizing the partial frames of an optimised GIF one by one would misplace
// them. Pages of a TIFF are fitted one by one.
func resize(j *job) error {
	o := j.output
	if o.MaxWidth == 0 && o.MaxHeight == 0 {
		return nil
	}
	if j.frames > 1 && j.inFmt == outcome.GIF {
		cw, ch, _, _, err := j.mw.GetImagePage()
		if err != nil {
			return j.classify("resize", err)
		}
		tw, th := fitSize([2]int{int(cw), int(ch)}, o.MaxWidth, o.MaxHeight)
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
		tw, th := fitSize([2]int{w, h}, o.MaxWidth, o.MaxHeight)
		if j.scaled {
			tw, th = fitSize(displayedSize(j.head), o.MaxWidth, o.MaxHeight)
		}
		if tw == w && th == h {
			return nil
		}
		return resizeFrame(j, tw, th)
	})
}

// downscaleFilter is Lanczos (3 lobes), the filter libvips and sharp shrink
// with: sharp without the ringing of sharper windows, and no blur like
// Mitchell's or the triangle filter's.
const downscaleFilter = imagick.FILTER_LANCZOS

func resizeFrame(j *job, w, h int) error {
	if err := j.mw.ResizeImage(uint(w), uint(h), downscaleFilter); err != nil {
		return j.classify("resize", err)
	}
	j.resized = true
	return nil
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
