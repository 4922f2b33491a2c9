package pngopt

/*
#cgo LDFLAGS: -lz
#include <stdlib.h>
#include <zlib.h>

// compress2x deflates in[0:n] into out[0:cap] as a zlib stream at level 9
// with the given memLevel and strategy; returns the output length, or -1.
static long compress2x(const unsigned char *in, unsigned long n, unsigned char *out, unsigned long cap, int memLevel, int strategy) {
	z_stream s = {0};
	if (deflateInit2(&s, 9, Z_DEFLATED, 15, memLevel, strategy) != Z_OK) return -1;
	s.next_in = (unsigned char *)in;
	s.avail_in = n;
	s.next_out = out;
	s.avail_out = cap;
	int rc = deflate(&s, Z_FINISH);
	long len = (long)s.total_out;
	deflateEnd(&s);
	return rc == Z_STREAM_END ? len : -1;
}

static unsigned long bound(unsigned long n) {
	z_stream s = {0};
	unsigned long b;
	if (deflateInit2(&s, 9, Z_DEFLATED, 15, 9, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
	b = deflateBound(&s, n);
	deflateEnd(&s);
	return b;
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// zlib strategies (zlib.h): how the matcher treats filtered data.
const (
	zDefault  = C.Z_DEFAULT_STRATEGY
	zFiltered = C.Z_FILTERED // favours literals: often smaller for filtered photo rows
	zHuffman  = C.Z_HUFFMAN_ONLY
	zRLE      = C.Z_RLE // runs only: often smaller for flat graphics
)

// zlibDeflate compresses data with the system's zlib at level 9, the same
// compressor optipng and libpng use, with one of its strategies.
func zlibDeflate(data []byte, strategy C.int) ([]byte, error) {
	if len(data) == 0 {
		return nil, errors.New("pngopt: no image data")
	}
	limit := C.bound(C.ulong(len(data)))
	if limit == 0 {
		return nil, errors.New("pngopt: zlib failed to start")
	}
	out := make([]byte, int(limit))
	n := C.compress2x((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)),
		(*C.uchar)(unsafe.Pointer(&out[0])), limit, 9, strategy)
	if n < 0 {
		return nil, errors.New("pngopt: zlib failed")
	}
	return out[:n], nil
}
