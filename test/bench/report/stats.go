package report

import (
	"math"
	"slices"
)

// Median of xs; NaN for none.
func Median(xs []float64) float64 { return Percentile(xs, 50) }

// Percentile p (0..100) of xs by linear interpolation between closest ranks
// (numpy's default); NaN for none.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := p / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}
