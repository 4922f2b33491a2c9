package pipeline

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// jpegLayout is what a walk over a JPEG's markers learns without decoding:
// enough to tell where libjpeg met bytes that are no image data, whether the
// scans present cover the whole image, and where its entropy-coded data ends.
type jpegLayout struct {
	progressive bool
	components  []byte // component ids, from the frame header
	scans       []jpegScan
	// junk lists the runs of bytes between marker segments that are no
	// marker, counted as libjpeg counts its "extraneous bytes".
	junk []jpegJunk
	// ends are the offsets where entropy-coded data stops: before each
	// restart marker and before the marker that ends a scan, or the file's
	// length when it ends inside a scan.
	ends []int
	eoi  bool // the walk reached the EOI marker
	// broken is the offset of a segment whose declared length runs past the
	// end of the file (0 when none does), and brokenWhy says so: libjpeg
	// skips everything after it, as if the file ended there.
	broken    int
	brokenWhy string
}

type jpegScan struct {
	components     []byte
	ss, se, ah, al byte // spectral selection and successive approximation
}

type jpegJunk struct {
	start, end int  // the run's offsets; a marker's 0xFF fill bytes are not junk
	bytes      int  // as libjpeg counts them: two per stuffed 0xFF00
	marker     byte // the marker the run precedes
}

// layoutJPEG walks data from SOI to EOI or the end of the file, following
// segment lengths as libjpeg does.
func layoutJPEG(data []byte) jpegLayout {
	var l jpegLayout
	pos := 2 // after SOI, which detect has seen
	for {
		m, at, skipped, ok := nextMarker(data, pos)
		if !ok {
			return l
		}
		if skipped > 0 {
			l.junk = append(l.junk, jpegJunk{pos, at, skipped, m})
		}
		pos = at + 2
		switch {
		case m == 0xD9:
			l.eoi = true
			return l
		case m == 0x01 || m >= 0xD0 && m <= 0xD8:
			continue // stand-alone markers carry no length
		}
		if pos+2 > len(data) {
			l.broken, l.brokenWhy = at, fmt.Sprintf("the file ends inside the length of marker 0x%02X", m)
			return l
		}
		n := int(binary.BigEndian.Uint16(data[pos:]))
		if pos+n > len(data) {
			l.broken, l.brokenWhy = at, fmt.Sprintf("marker 0x%02X at offset %d declares %d bytes, %d more than the file holds", m, at, n, pos+n-len(data))
			return l
		}
		payload := data[pos+2 : pos+max(n, 2)]
		pos += max(n, 2)
		switch {
		case isSOF(m):
			l.progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE
			if len(payload) >= 6 {
				for i := 6; i+3 <= len(payload) && len(l.components) < int(payload[5]); i += 3 {
					l.components = append(l.components, payload[i])
				}
			}
		case m == 0xDA:
			l.scans = append(l.scans, parseScan(payload))
			pos = l.entropy(data, pos)
		}
	}
}

// nextMarker finds the marker at or after pos as libjpeg's next_marker does:
// it skips bytes up to a 0xFF, then 0xFF fill bytes, and a stuffed 0xFF00
// too. at is the offset of the marker's last 0xFF; skipped counts what
// libjpeg reports as extraneous bytes (two per 0xFF00). ok is false when the
// file ends first.
func nextMarker(data []byte, pos int) (m byte, at, skipped int, ok bool) {
	for {
		for pos < len(data) && data[pos] != 0xFF {
			pos++
			skipped++
		}
		for pos+1 < len(data) && data[pos+1] == 0xFF {
			pos++
		}
		if pos+1 >= len(data) {
			return 0, len(data), skipped, false
		}
		if data[pos+1] != 0x00 {
			return data[pos+1], pos, skipped, true
		}
		skipped += 2
		pos += 2
	}
}

func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}

func parseScan(p []byte) jpegScan {
	var s jpegScan
	if len(p) == 0 {
		return s
	}
	n := int(p[0])
	for i := 0; i < n && 1+2*i < len(p); i++ {
		s.components = append(s.components, p[1+2*i])
	}
	if rest := p[min(len(p), 1+2*n):]; len(rest) >= 3 {
		s.ss, s.se, s.ah, s.al = rest[0], rest[1], rest[2]>>4, rest[2]&0x0F
	}
	return s
}

// entropy skips the entropy-coded data starting at pos and returns the
// offset of the marker that ends it, recording where the data stops.
func (l *jpegLayout) entropy(data []byte, pos int) int {
	for i := pos; i+1 < len(data); i++ {
		if data[i] != 0xFF {
			continue
		}
		switch next := data[i+1]; {
		case next == 0x00 || next == 0xFF:
		case next >= 0xD0 && next <= 0xD7:
			l.ends = append(l.ends, i)
		default:
			l.ends = append(l.ends, i)
			return i
		}
	}
	l.ends = append(l.ends, len(data))
	return len(data)
}

// hasJunk reports whether the walk found a run of n junk bytes between
// segments before marker m: libjpeg's "n extraneous bytes before marker m"
// then came from between segments, not from inside scan data.
func (l jpegLayout) hasJunk(n int, m byte) bool {
	for _, j := range l.junk {
		if j.bytes == n && j.marker == m {
			return true
		}
	}
	return false
}

// missingScans says which part of the image no scan of the file carries
// ("" when the scans cover every component and, for a progressive JPEG,
// every coefficient to full precision). A file cut between scans decodes
// without running out of data, into the blurred or colourless image of the
// scans it still has.
func (l jpegLayout) missingScans() string {
	for _, c := range l.components {
		for k := range 64 {
			if !l.covers(c, byte(k)) {
				if !l.progressive {
					return fmt.Sprintf("component %d has no scan", c)
				}
				return fmt.Sprintf("component %d lacks coefficient %d at full precision", c, k)
			}
		}
	}
	return ""
}

// covers reports whether a scan holds coefficient k of component c at full
// precision (successive approximation bit 0).
func (l jpegLayout) covers(c, k byte) bool {
	for _, s := range l.scans {
		if !l.progressive {
			if slices.Contains(s.components, c) {
				return true
			}
			continue
		}
		if s.al == 0 && s.ss <= k && k <= s.se && slices.Contains(s.components, c) {
			return true
		}
	}
	return false
}

// intact returns data as libjpeg reads it: without the junk between
// segments and a segment running past the end, and ended by EOI. repair says
// what changed ("" when nothing did, and intact is data itself).
func (l jpegLayout) intact(data []byte) (intact []byte, repair string) {
	var done []string
	out := make([]byte, 0, len(data)+2)
	prev := 0
	for _, j := range l.junk {
		out = append(out, data[prev:j.start]...)
		prev = j.end
	}
	if len(l.junk) > 0 {
		done = append(done, fmt.Sprintf("%d runs of junk between segments dropped", len(l.junk)))
	}
	out = append(out, l.read(data)[prev:]...)
	if l.broken > 0 {
		done = append(done, "a segment running past the end dropped")
	}
	if !l.eoi {
		out = append(out, 0xFF, 0xD9)
		done = append(done, "the missing EOI added")
	}
	if len(done) == 0 {
		return data, ""
	}
	return out, strings.Join(done, ", ")
}

// padded returns data with n zero bytes where each stretch of entropy-coded
// data stops, and an EOI when the file has none. Zero bits always decode,
// so libjpeg then runs out of data only where a stretch lacks more than n
// bytes; a complete stretch just gains n bytes it does not read.
func (l jpegLayout) padded(data []byte, n int) []byte {
	out := make([]byte, 0, len(data)+n*len(l.ends)+2)
	prev := 0
	for _, end := range l.ends {
		out = append(out, data[prev:end]...)
		out = append(out, make([]byte, n)...)
		prev = end
	}
	out = append(out, l.read(data)[prev:]...)
	if !l.eoi {
		out = append(out, 0xFF, 0xD9)
	}
	return out
}

// read is the part of data that libjpeg reads: up to a broken segment.
func (l jpegLayout) read(data []byte) []byte {
	if l.broken > 0 {
		return data[:l.broken]
	}
	return data
}
