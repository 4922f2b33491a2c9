// Package pngopt makes PNG files smaller without changing a pixel or a
// chunk: it re-filters and re-deflates the image data in several trials, the
// way optipng does, and keeps the smallest.
//
// A PNG's size depends on two choices its encoder made: the filter that
// predicts each row from its neighbours (none, sub, up, average, Paeth, or a
// per-row choice), and how the deflate compressor parses the filtered bytes.
// Encoders pick one of each by heuristic; trying several and keeping the
// smallest gains a few per cent on photos and often tens of per cent on small
// graphics. Every chunk other than IDAT is copied unchanged (colour, palette,
// transparency, animation control), and the samples decode to the same
// values, so the result is the same image.
//
// It needs the system's zlib (cgo), not ImageMagick.
package pngopt

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const signature = "\x89PNG\r\n\x1a\n"

// ErrUnsupported is returned for valid PNGs this package leaves alone:
// animated ones (their frames live in fdAT chunks, not only IDAT).
var ErrUnsupported = errors.New("pngopt: animated PNG")

// Options bound the work.
type Options struct {
	// SmallBytes and LargeBytes (unfiltered image data) choose how many
	// trials an image gets: every filter with every compressor (30) up to
	// SmallBytes, four up to LargeBytes, one beyond, so that a large photo
	// costs less than optipng -o2's eight. Zero means 64 KiB and 1 MiB.
	SmallBytes, LargeBytes int
}

// Optimize returns png with the image data of the smallest trial, or png
// itself when no trial is smaller. ctx is checked between trials.
func Optimize(ctx context.Context, png []byte, o Options) ([]byte, error) {
	f, err := parse(png)
	if err != nil {
		return nil, err
	}
	raw, err := f.inflate()
	if err != nil {
		return nil, err
	}
	passes, err := f.unfilter(raw)
	if err != nil {
		return nil, err
	}
	best := f.idatLen()
	var bestData []byte
	filtered := map[strategy][]byte{}
	for _, t := range o.trials(len(raw)) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if filtered[t.filter] == nil {
			filtered[t.filter] = filterAll(passes, f.ihdr.bytesPerPixel(), t.filter)
		}
		data, err := t.deflate(filtered[t.filter])
		if err != nil {
			return nil, err
		}
		if len(data) < best {
			best, bestData = len(data), data
		}
	}
	if bestData == nil {
		return png, nil
	}
	return f.rebuild(bestData), nil
}

// A trial is one filter strategy and one compressor.
type trial struct {
	filter  strategy
	deflate func([]byte) ([]byte, error)
}

// The compressors: the system's zlib at level 9 (what libpng and optipng
// use) with three of its strategies, and Go's own deflate, whose different
// parsing wins on some images.
var (
	zlibDefault  = func(b []byte) ([]byte, error) { return zlibDeflate(b, zDefault) }
	zlibFiltered = func(b []byte) ([]byte, error) { return zlibDeflate(b, zFiltered) }
	zlibRLE      = func(b []byte) ([]byte, error) { return zlibDeflate(b, zRLE) }
	zlibHuffman  = func(b []byte) ([]byte, error) { return zlibDeflate(b, zHuffman) }
	goFlate      = func(b []byte) ([]byte, error) { return goDeflate(b, zlib.BestCompression) }
)

// trials lists the trials for an image by the size of its data: everything
// for small images; for larger ones, what most often beats the usual
// encoding (libpng's per-row filter choice with zlib's default strategy,
// which the input typically is already): no filter (best for palettes and
// sub-byte grey), and the filtered strategy that favours literals.
func (o Options) trials(rawBytes int) []trial {
	small, large := o.SmallBytes, o.LargeBytes
	if small == 0 {
		small = 64 << 10
	}
	if large == 0 {
		large = 1 << 20
	}
	var ts []trial
	add := func(filters []strategy, compressors ...func([]byte) ([]byte, error)) {
		for _, f := range filters {
			for _, c := range compressors {
				ts = append(ts, trial{f, c})
			}
		}
	}
	switch {
	case rawBytes <= small:
		add([]strategy{minSum, none, sub, up, average, paeth}, zlibDefault, zlibFiltered, zlibRLE, zlibHuffman, goFlate)
	case rawBytes <= large:
		add([]strategy{minSum}, zlibFiltered, goFlate)
		add([]strategy{none}, zlibDefault, goFlate)
	default:
		add([]strategy{minSum}, zlibFiltered)
	}
	return ts
}

func goDeflate(data []byte, level int) ([]byte, error) {
	var b bytes.Buffer
	w, err := zlib.NewWriterLevel(&b, level)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// file is a parsed PNG: its chunks in order and its header.
type file struct {
	chunks []chunk
	ihdr   ihdr
}

type chunk struct {
	typ  string
	data []byte // without length, type and CRC
}

type ihdr struct {
	width, height               int
	bitDepth, colourType, laced byte
}

// channels per colour type: grey, -, RGB, palette, grey+alpha, -, RGBA.
var channels = map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}

func (h ihdr) bitsPerPixel() int { return int(h.bitDepth) * channels[h.colourType] }

// bytesPerPixel is the filters' left distance: at least one byte.
func (h ihdr) bytesPerPixel() int { return max(1, h.bitsPerPixel()/8) }

func (h ihdr) rowBytes(width int) int { return (width*h.bitsPerPixel() + 7) / 8 }

func parse(png []byte) (*file, error) {
	if !bytes.HasPrefix(png, []byte(signature)) {
		return nil, errors.New("pngopt: no PNG signature")
	}
	f := &file{}
	pos := len(signature)
	for {
		if pos+12 > len(png) {
			return nil, errors.New("pngopt: the file ends before IEND")
		}
		n := binary.BigEndian.Uint32(png[pos:])
		if n > uint32(len(png)-pos-12) {
			return nil, fmt.Errorf("pngopt: chunk at offset %d is longer than the file", pos)
		}
		c := chunk{typ: string(png[pos+4 : pos+8]), data: png[pos+8 : pos+8+int(n)]}
		f.chunks = append(f.chunks, c)
		pos += 12 + int(n)
		switch c.typ {
		case "acTL", "fdAT":
			return nil, ErrUnsupported
		case "IHDR":
			if len(c.data) != 13 {
				return nil, errors.New("pngopt: IHDR is not 13 bytes")
			}
			f.ihdr = ihdr{
				width: int(binary.BigEndian.Uint32(c.data)), height: int(binary.BigEndian.Uint32(c.data[4:])),
				bitDepth: c.data[8], colourType: c.data[9], laced: c.data[12],
			}
		}
		if c.typ == "IEND" {
			break
		}
	}
	h := f.ihdr
	if _, ok := channels[h.colourType]; !ok || h.width <= 0 || h.height <= 0 || h.laced > 1 {
		return nil, fmt.Errorf("pngopt: unsupported or invalid header %+v", h)
	}
	return f, nil
}

func (f *file) idatLen() int {
	n := 0
	for _, c := range f.chunks {
		if c.typ == "IDAT" {
			n += len(c.data)
		}
	}
	return n
}

func (f *file) inflate() ([]byte, error) {
	var parts [][]byte
	for _, c := range f.chunks {
		if c.typ == "IDAT" {
			parts = append(parts, c.data)
		}
	}
	r, err := zlib.NewReader(bytes.NewReader(bytes.Join(parts, nil)))
	if err != nil {
		return nil, fmt.Errorf("pngopt: image data: %w", err)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("pngopt: image data: %w", err)
	}
	return raw, nil
}

// rebuild writes the chunks with the image data replaced by one IDAT where
// the first IDAT was.
func (f *file) rebuild(idat []byte) []byte {
	out := make([]byte, 0, len(idat)+1024)
	out = append(out, signature...)
	wrote := false
	for _, c := range f.chunks {
		if c.typ != "IDAT" {
			out = appendChunk(out, c.typ, c.data)
			continue
		}
		if !wrote {
			out = appendChunk(out, "IDAT", idat)
			wrote = true
		}
	}
	return out
}

func appendChunk(out []byte, typ string, data []byte) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	start := len(out)
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[start:]))
}
