package pipeline

import (
	"errors"
	"fmt"
	"strconv"

	"gopkg.in/gographics/imagick.v3/imagick"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// CheckOutputs refuses settings with an output this ImageMagick cannot
// write, such as AVIF without an AV1 encoder in libheif or with a security
// policy that denies AVIF writes: a function that would fail every upload's
// output must not start. Call it once after Initialize. Original outputs
// write only formats Initialize has checked.
func CheckOutputs(s config.Settings) error {
	var errs []error
	for i, o := range s.Outputs {
		if f := o.Target(); f != "" {
			if err := canWrite(f); err != nil {
				errs = append(errs, fmt.Errorf("outputs[%d] (%s): %w", i, o.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// canWrite encodes a tiny image in f, once per format and process: whether
// a coder may write, and whether it has an encoder, shows only when it tries.
func canWrite(f outcome.Format) error {
	state.Lock()
	defer state.Unlock()
	if !state.initialized {
		return errNotInitialized
	}
	if err, tried := state.writable[f]; tried {
		return err
	}
	err := encodeProbe(f)
	if err != nil {
		err = fmt.Errorf("this ImageMagick cannot write %s: %w", f, err)
		if f == outcome.AVIF {
			err = fmt.Errorf("%w (it needs an AV1 encoder in libheif and a policy that allows AVIF writes: layers/imagemagick/README.md)", err)
		}
	}
	state.writable[f] = err
	return err
}

func encodeProbe(f outcome.Format) error {
	mw := imagick.NewMagickWand()
	defer mw.Destroy()
	grey := imagick.NewPixelWand()
	defer grey.Destroy()
	grey.SetColor("grey")
	if err := mw.NewImage(16, 16, grey); err != nil {
		return err
	}
	if err := errors.Join(mw.SetImageFormat(coders[f]), setQuality(mw, 50), mw.SetOption("heic:speed", strconv.Itoa(AVIFSpeed))); err != nil {
		return err
	}
	blob, err := mw.GetImageBlob()
	if err == nil && len(blob) == 0 {
		err = errors.New("the encoder produced no bytes")
	}
	return err
}
