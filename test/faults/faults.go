// Package faults puts real faults between the function processes and S3:
// Toxiproxy for what the network does (latency, stalls, resets, a slow link)
// and an HTTP proxy of its own for what S3 answers under load (503 SlowDown,
// 500 InternalError, also after a write went through). Both count what they
// inject, by kind, for the tests' summary lines.
package faults

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Counts are injected faults by kind.
type Counts map[string]int64

// Add adds other's counts to c.
func (c Counts) Add(other Counts) {
	for kind, n := range other {
		c[kind] += n
	}
}

// Since is what c counts beyond before, without the kinds that did not grow.
func (c Counts) Since(before Counts) Counts {
	d := Counts{}
	for kind, n := range c {
		if n > before[kind] {
			d[kind] = n - before[kind]
		}
	}
	return d
}

// String lists the kinds in a stable order: "latency 3, reset_peer 1".
func (c Counts) String() string {
	var parts []string
	for _, kind := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s %d", kind, c[kind]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Total is the number of faults of every kind.
func (c Counts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

func clone(c Counts) Counts { return maps.Clone(c) }
