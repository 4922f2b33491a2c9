package compressor

import (
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
)

// LayerPolicy is the layer's ImageMagick security policy, relative to the
// build context.
const LayerPolicy = "layers/imagemagick/policy.xml"

// checkLayerWrites refuses at synth the outputs the layer's ImageMagick may
// not write, which would make the deployed function refuse to start
// (pipeline.CheckOutputs): an AVIF output while the layer carries no AV1
// encoder, whose policy then denies AVIF writes. The policy allows writing a
// format only where the layer builds its encoder, and the layer's verify
// stage writes each one.
func checkLayerWrites(buildContext string, s config.Settings) error {
	doc, err := os.ReadFile(filepath.Join(buildContext, LayerPolicy))
	if err != nil {
		return fmt.Errorf("the layer's policy, which says what it writes: %w", err)
	}
	var policy struct {
		Rules []struct {
			Domain  string `xml:"domain,attr"`
			Rights  string `xml:"rights,attr"`
			Pattern string `xml:"pattern,attr"`
		} `xml:"policy"`
	}
	if err := xml.Unmarshal(doc, &policy); err != nil {
		return fmt.Errorf("%s: %w", LayerPolicy, err)
	}
	var errs []error
	for i, o := range s.Outputs {
		target := o.Target()
		if target == "" {
			continue // the upload's own format, or JPEG: always written
		}
		coder := strings.ToUpper(string(target)) // ImageMagick's name: "AVIF", "WEBP"
		// As ImageMagick decides: the last coder rule whose pattern matches wins.
		writable := true
		for _, r := range policy.Rules {
			if r.Domain == "coder" && globMatches(r.Pattern, coder) {
				writable = strings.Contains(r.Rights, "write")
			}
		}
		if !writable {
			errs = append(errs, fmt.Errorf("compression: outputs[%d] (%s): the ImageMagick layer cannot write %s (%s denies it: the layer has no encoder for it)", i, o.Name(), target, LayerPolicy))
		}
	}
	return errors.Join(errs...)
}

// globMatches is the part of ImageMagick's glob syntax policy patterns use:
// "*", a name, or "{A,B,...}".
func globMatches(pattern, name string) bool {
	if pattern == "*" {
		return true
	}
	if inner, ok := strings.CutPrefix(pattern, "{"); ok && strings.HasSuffix(inner, "}") {
		return slices.Contains(strings.Split(strings.TrimSuffix(inner, "}"), ","), name)
	}
	return pattern == name
}
