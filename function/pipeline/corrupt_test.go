package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/function/internal/fixture"
	"github.com/s3-image-compressor/s3-image-compressor/function/outcome"
	"github.com/s3-image-compressor/s3-image-compressor/function/pipeline"
)

// damagedCategories are the corpus categories of files that are broken on
// purpose.
var damagedCategories = []string{"malformed", "pngsuite-broken", "bomb"}

// TestCorruptInputNeverFails: Process promises that an error means "retry",
// so no byte sequence may produce one. Every damaged corpus file, and every
// other image (those under 100 kB, and the smallest of each category) cut at
// several offsets and with a run of garbage in its middle, goes through each
// output path: kept format, conversion to each target, and resizing.
func TestCorruptInputNeverFails(t *testing.T) {
	var inputs, intact []fixture.Sample
	smallest := map[string]fixture.Sample{}
	for _, s := range fixture.Corpus(t) {
		switch {
		case slices.Contains(damagedCategories, s.Category):
			inputs = append(inputs, s)
		case len(s.Data) < 100<<10:
			intact = append(intact, s)
		default:
			if prev, ok := smallest[s.Category]; !ok || len(s.Data) < len(prev.Data) {
				smallest[s.Category] = s
			}
		}
	}
	for _, s := range smallest {
		intact = append(intact, s)
	}
	for _, s := range intact {
		n := len(s.Data)
		for _, cut := range []int{1, 8, 16, 64, n / 4, n / 2, n * 3 / 4, n - 1} {
			if cut > 0 && cut < n {
				inputs = append(inputs, fixture.Sample{Name: fmt.Sprintf("%s cut at %d of %d", s.Name, cut, n), Category: s.Category, Data: s.Data[:cut]})
			}
		}
		garbled := bytes.Clone(s.Data)
		for i := n / 2; i+1 < min(n, n/2+32); i += 2 {
			garbled[i], garbled[i+1] = 0xFF, 0xD9 // a JPEG end marker among the data of any format
		}
		inputs = append(inputs, fixture.Sample{Name: s.Name + " garbled in the middle", Category: s.Category, Data: garbled})
	}
	// The conversion targets writable here (AVIF needs an AV1 encoder), and
	// all of them at once, scaled to fit: several outputs of one decode.
	variants := map[string]config.Settings{"default": config.Default()}
	all := config.Default()
	for _, f := range outcome.ConversionTargets() {
		o := config.Output{Format: string(f)}
		if pipeline.CheckOutputs(settings(only(o))) != nil {
			continue
		}
		variants["to "+string(f)] = settings(only(o))
		all.Outputs = append(all.Outputs, config.Output{Format: string(f), MaxWidth: 40, MaxHeight: 30, Suffix: "-40"})
	}
	variants["all, fit 40x30"] = all
	for _, in := range inputs {
		for name, s := range variants {
			rs, err := pipeline.Process(context.Background(), in.Data, s)
			if err != nil {
				t.Errorf("%s (%s), %s: Process returned the error %q; a damaged input must be rejected, not retried", in.Name, in.Category, name, err)
				continue
			}
			for _, r := range rs {
				if !r.Decision.Stored() && (r.Reason == "" || r.Output != nil) {
					t.Errorf("%s, %s: %s with reason %q and %d output bytes; want a reason and no output", in.Name, name, r.Decision, r.Reason, len(r.Output))
				}
			}
		}
	}
	t.Logf("%d damaged inputs × %d settings: none returned an error", len(inputs), len(variants))
}
