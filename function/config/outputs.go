package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
)

// MaxOutputs bounds the outputs of one upload: they are all made within one
// invocation, one after the other.
const MaxOutputs = 8

// maxSuffixLength keeps keys readable and far from S3's 1024-byte limit.
const maxSuffixLength = 64

// validateOutputs checks every entry and every pair: two outputs that can
// write the same destination key would overwrite each other on every upload.
func (s Settings) validateOutputs() []error {
	if len(s.Outputs) == 0 {
		return []error{errors.New(`outputs is empty: every upload would be read and nothing written; the default is [{"format":"original"}]`)}
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(s.Outputs) > MaxOutputs {
		bad("outputs has %d entries, at most %d: they are all made within one invocation", len(s.Outputs), MaxOutputs)
	}
	targets := outcome.ConversionTargets()
	for i, o := range s.Outputs {
		entry := fmt.Sprintf("outputs[%d] (%s)", i, o.Name())
		if o.Format != Original && !slices.Contains(targets, o.Target()) {
			bad("%s: format %q: want %q or one of %q", entry, o.Format, Original, targets)
		}
		for _, side := range []struct {
			name string
			n    int
		}{{"maxWidth", o.MaxWidth}, {"maxHeight", o.MaxHeight}} {
			if side.n < 0 || side.n > s.Limits.MaxDimension {
				bad("%s: %s %d: want 0 (no limit) or 1..%d (limits.maxDimension)", entry, side.name, side.n, s.Limits.MaxDimension)
			}
		}
		if err := checkSuffix(o.Suffix); err != nil {
			bad("%s: suffix %q %v", entry, o.Suffix, err)
		}
		switch {
		case o.Quality == 0:
		case o.Target() == outcome.PNG:
			bad("%s: quality %d: PNG output is lossless; png.compressionLevel sets its effort", entry, o.Quality)
		case o.Quality < 1 || o.Quality > 100:
			bad("%s: quality %d: want 1..100, or 0 for the format's own setting", entry, o.Quality)
		}
		for j, p := range s.Outputs[:i] {
			if f, clash := sameKey(p, o); clash {
				bad("outputs[%d] (%s) and %s would both write %s files to the same key: give one of them another suffix",
					j, p.Name(), entry, f)
			}
		}
	}
	return errs
}

func checkSuffix(suffix string) error {
	switch {
	case len(suffix) > maxSuffixLength:
		return fmt.Errorf("is longer than %d bytes", maxSuffixLength)
	case strings.Contains(suffix, "/"):
		return errors.New(`contains "/": a suffix names a file, not a folder`)
	case strings.ContainsFunc(suffix, unicode.IsControl):
		return errors.New("contains a control character")
	}
	return nil
}

// sameKey reports whether a and b can write the same key, and in which
// format: they share a suffix and a format they may write.
func sameKey(a, b Output) (outcome.Format, bool) {
	if a.Suffix != b.Suffix {
		return "", false
	}
	for _, f := range a.writes() {
		if slices.Contains(b.writes(), f) {
			return f, true
		}
	}
	return "", false
}

// writes lists the formats o may write: its target, or for an original
// output whatever an upload becomes.
func (o Output) writes() []outcome.Format {
	if t := o.Target(); t != "" {
		return []outcome.Format{t}
	}
	var fs []outcome.Format
	for _, in := range outcome.Formats() {
		if f := outcome.Written(in, ""); !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// OutputKey is where output o of sourceKey goes: the source prefix replaced
// by the destination prefix, the suffix added to the file name, and the
// extension kept when it names the format the output has for an upload of
// that name (".JPG" and ".jpeg" stay; an original output of "a.heic" is
// "a.jpg") or else replaced by that format's (".webp", ".avif", ...). The
// key follows from the names alone, never from the bytes, so it is known
// before an upload is read and after it is deleted; the Content-Type of the
// object tells its format.
func (s Settings) OutputKey(sourceKey string, o Output) string {
	rest := strings.TrimPrefix(sourceKey, s.SourcePrefix)
	ext := path.Ext(rest)
	base := strings.TrimSuffix(rest, ext)
	named, known := outcome.Named(ext)
	target := o.Target()
	if target == "" && known {
		target = outcome.Written(named, "")
	}
	if target != "" && (!known || named != target) {
		ext = target.Extension()
	}
	return s.DestinationPrefix + base + o.Suffix + ext
}

// OutputHash identifies what shapes output o: its format, sizes, suffix,
// quality and the settings of the formats it may write. The destination
// object records it, so a repeated event with the same settings does no work,
// while a change of quality or size reprocesses that output only. The default
// output's hash equals that of the single output of earlier versions (whose
// settings had outputFormat, maxWidth and maxHeight at the top level), so
// their outputs still count as done.
func (s Settings) OutputHash(o Output) string {
	shape := struct {
		OutputFormat        string
		MaxWidth, MaxHeight int
		JPEG                JPEG
		PNG                 PNG
		WebP                WebP
		AVIF                *AVIF  `json:",omitempty"`
		Suffix              string `json:",omitempty"`
		Quality             int    `json:",omitempty"`
	}{string(o.Target()), o.MaxWidth, o.MaxHeight, s.JPEG, s.PNG, s.WebP, nil, o.Suffix, o.Quality}
	if o.Target() == outcome.AVIF {
		shape.AVIF = &s.AVIF
	}
	doc, err := json.Marshal(shape)
	if err != nil {
		panic(err) // plain structs of strings, ints and bools always marshal
	}
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:8])
}

// ForOutput is s as the encoders of output o see it: o's quality, when it
// has one, in place of the quality of every lossy format, fixed (no target
// score searched).
func (s Settings) ForOutput(o Output) Settings {
	if o.Quality != 0 {
		s.JPEG.Quality, s.WebP.Quality, s.AVIF.Quality = o.Quality, o.Quality, o.Quality
		s.JPEG.TargetScore, s.WebP.TargetScore = 0, 0
	}
	return s
}

// movedHint explains a decoding error about a setting that moved into outputs.
func movedHint(err error) string {
	for _, name := range []string{"outputFormat", "maxWidth", "maxHeight"} {
		if strings.Contains(err.Error(), fmt.Sprintf("unknown field %q", name)) {
			return fmt.Sprintf(`; %s moved into "outputs", e.g. "outputs": [{"format": "webp", "maxWidth": 1600}]`, name)
		}
	}
	return ""
}
