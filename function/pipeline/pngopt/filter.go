package pngopt

import (
	"errors"
	"fmt"
)

// pass is one reduced image of the data stream: the whole image, or one of
// the seven Adam7 passes of an interlaced one. Each is filtered on its own.
type pass struct {
	rowBytes int
	rows     [][]byte // unfiltered
}

// adam7 lists each interlace pass's first column and row and its steps.
var adam7 = [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}

// passSizes are the passes' widths and heights; passes with no pixels hold
// no bytes in the stream and are left out.
func (h ihdr) passSizes() [][2]int {
	if h.laced == 0 {
		return [][2]int{{h.width, h.height}}
	}
	var sizes [][2]int
	for _, p := range adam7 {
		w, ht := (h.width-p[0]+p[2]-1)/p[2], (h.height-p[1]+p[3]-1)/p[3]
		if w > 0 && ht > 0 {
			sizes = append(sizes, [2]int{w, ht})
		}
	}
	return sizes
}

// unfilter splits the inflated stream into passes and undoes each row's filter.
func (f *file) unfilter(raw []byte) ([]pass, error) {
	bpp := f.ihdr.bytesPerPixel()
	var passes []pass
	pos := 0
	for _, size := range f.ihdr.passSizes() {
		rb := f.ihdr.rowBytes(size[0])
		p := pass{rowBytes: rb}
		prev := make([]byte, rb)
		for range size[1] {
			if pos+1+rb > len(raw) {
				return nil, errors.New("pngopt: image data is shorter than the header says")
			}
			ft, line := raw[pos], append([]byte(nil), raw[pos+1:pos+1+rb]...)
			pos += 1 + rb
			if ft > 4 {
				return nil, fmt.Errorf("pngopt: row filter %d does not exist", ft)
			}
			unfilterRow(ft, line, prev, bpp)
			p.rows = append(p.rows, line)
			prev = line
		}
		passes = append(passes, p)
	}
	if pos != len(raw) {
		return nil, errors.New("pngopt: image data is longer than the header says")
	}
	return passes, nil
}

func unfilterRow(ft byte, line, prev []byte, bpp int) {
	switch ft {
	case 1:
		for i := bpp; i < len(line); i++ {
			line[i] += line[i-bpp]
		}
	case 2:
		for i := range line {
			line[i] += prev[i]
		}
	case 3:
		for i := range line {
			var a int
			if i >= bpp {
				a = int(line[i-bpp])
			}
			line[i] += byte((a + int(prev[i])) / 2)
		}
	case 4:
		for i := range line {
			var a, c byte
			if i >= bpp {
				a, c = line[i-bpp], prev[i-bpp]
			}
			line[i] += paethPredictor(a, prev[i], c)
		}
	}
}

// A strategy chooses the filter of each row.
type strategy int

const (
	none strategy = iota
	sub
	up
	average
	paeth
	// minSum picks per row the filter whose output has the smallest sum of
	// absolute (signed) values, libpng's and optipng's heuristic.
	minSum
)

// filterAll returns the filtered stream of all passes.
func filterAll(passes []pass, bpp int, s strategy) []byte {
	size := 0
	for _, p := range passes {
		size += len(p.rows) * (1 + p.rowBytes)
	}
	out := make([]byte, 0, size)
	var cand [5][]byte
	for _, p := range passes {
		for i := range cand {
			cand[i] = make([]byte, p.rowBytes)
		}
		prev := make([]byte, p.rowBytes)
		for _, line := range p.rows {
			if s != minSum {
				filterRow(byte(s), cand[0], line, prev, bpp)
				out = append(out, byte(s))
				out = append(out, cand[0]...)
			} else {
				best, bestSum := 0, -1
				for ft := range cand {
					filterRow(byte(ft), cand[ft], line, prev, bpp)
					if sum := absSum(cand[ft]); bestSum < 0 || sum < bestSum {
						best, bestSum = ft, sum
					}
				}
				out = append(out, byte(best))
				out = append(out, cand[best]...)
			}
			prev = line
		}
	}
	return out
}

func filterRow(ft byte, dst, line, prev []byte, bpp int) {
	switch ft {
	case 0:
		copy(dst, line)
	case 1:
		for i := range line {
			var a byte
			if i >= bpp {
				a = line[i-bpp]
			}
			dst[i] = line[i] - a
		}
	case 2:
		for i := range line {
			dst[i] = line[i] - prev[i]
		}
	case 3:
		for i := range line {
			var a int
			if i >= bpp {
				a = int(line[i-bpp])
			}
			dst[i] = line[i] - byte((a+int(prev[i]))/2)
		}
	case 4:
		for i := range line {
			var a, c byte
			if i >= bpp {
				a, c = line[i-bpp], prev[i-bpp]
			}
			dst[i] = line[i] - paethPredictor(a, prev[i], c)
		}
	}
}

func absSum(b []byte) int {
	s := 0
	for _, v := range b {
		if v < 128 {
			s += int(v)
		} else {
			s += 256 - int(v)
		}
	}
	return s
}

func paethPredictor(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
