package pipeline

import (
	"context"
	"math"
	"testing"
)

// The search finds the lowest passing quality of score curves shaped like
// real encoders' (steep at low quality, flat at high), within its trials.
func TestSearch(t *testing.T) {
	curves := map[string]func(q int) float64{
		"linear":     func(q int) float64 { return 30 + 0.6*float64(q) },
		"saturating": func(q int) float64 { return 100 - 1500/(float64(q)+10) },
		"steep":      func(q int) float64 { return -60 + 1.8*float64(q) },
		"flat":       func(q int) float64 { return 70 + 0.2*float64(q) - 3000/float64(q*q) },
	}
	codec := lossyCodec{name: "test", lo: 1, hi: 100, slope: 0.7, guess: func(t float64) int { return int(t) + 3 }}
	for name, curve := range curves {
		for _, target := range []float64{60, 75, 82.5, 88, 92} {
			want := -1
			for q := codec.lo; q <= codec.hi; q++ {
				if curve(q) >= target {
					want = q
					break
				}
			}
			if want < 0 {
				want = codec.hi
			}
			calls := 0
			got, est, err := search(context.Background(), func(q int) (float64, error) {
				calls++
				return curve(q), nil
			}, target, codec)
			if err != nil {
				t.Fatal(err)
			}
			if calls > maxTrials {
				t.Errorf("%s, target %v: %d trials, more than %d", name, target, calls, maxTrials)
			}
			// Within its trials the search may stop a few steps above the lowest
			// passing quality (on strongly curved stretches), never below it.
			if got < want || got > want+3 {
				t.Errorf("%s, target %v: quality %d (score %.2f), want %d (or up to 3 above)", name, target, got, est, want)
			}
			if curve(got) < target && want != codec.hi {
				t.Errorf("%s, target %v: quality %d scores %.2f, below the target", name, target, got, curve(got))
			}
			if reached := curve(codec.hi) >= target; reached && math.Abs(est-curve(got)) > 1e-9 {
				t.Errorf("%s, target %v: estimate %.3f, the curve says %.3f at %d", name, target, est, curve(got), got)
			}
		}
	}
}

func TestSearchUnreachableAndTrivial(t *testing.T) {
	codec := lossyCodec{name: "test", lo: 10, hi: 95, slope: 0.7, guess: func(float64) int { return 80 }}
	q, _, err := search(context.Background(), func(q int) (float64, error) { return 50 + 0.3*float64(q), nil }, 99, codec)
	if err != nil || q != codec.hi {
		t.Errorf("unreachable target: quality %d, %v; want the highest, %d", q, err, codec.hi)
	}
	q, _, err = search(context.Background(), func(int) (float64, error) { return 99, nil }, 60, codec)
	if err != nil || q > codec.lo+2 {
		t.Errorf("every quality passes: quality %d, %v; want about the lowest, %d", q, err, codec.lo)
	}
}
