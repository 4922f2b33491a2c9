#!/bin/sh
# heif.sh PREFIX LIBDE265_TARBALL DAV1D_TARBALL AOM_TARBALL LIBHEIF_TARBALL
#
# Builds the HEIC/AVIF stack into PREFIX: libde265 (HEVC decoding), dav1d (AV1 decoding),
# libaom (AV1 encoding only: AVIF output) and libheif on top, all compiled into libheif (no
# plugin loading). Amazon Linux 2023 packages none of them; run by native.sh for the layer
# and for local builds alike.
# Environment: JOBS (default: number of CPUs), BUILD_LOG (compiler output; default stdout).
set -eu

if [ "$#" -ne 5 ]; then
	echo "usage: $0 PREFIX LIBDE265_TARBALL DAV1D_TARBALL AOM_TARBALL LIBHEIF_TARBALL" >&2
	exit 2
fi
prefix=$1
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
log=${BUILD_LOG:-/dev/stdout}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { echo "==> $(date +%H:%M:%S) $*"; }

# Runs a build command with its output in the log; on failure shows the log's tail.
run() {
	if ! "$@" >>"$log" 2>&1; then
		echo "heif.sh: failed: $*" >&2
		[ "$log" = /dev/stdout ] || tail -n 40 "$log" >&2
		exit 1
	fi
}

# Unpacks a tarball into $work and prints the directory it created.
unpack() {
	mkdir "$work/$2"
	tar -xf "$1" -C "$work/$2"
	find "$work/$2" -mindepth 1 -maxdepth 1 -type d | head -n 1
}

cmake_install() {
	src=$1
	shift
	run cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
		-DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_INSTALL_RPATH="$prefix/lib" -DBUILD_SHARED_LIBS=ON \
		-DBUILD_TESTING=OFF "$@"
	run cmake --build "$src/build" -j "$jobs"
	run cmake --install "$src/build"
}

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

step "libde265 (HEVC decoder)"
src=$(unpack "$2" de265)
cmake_install "$src" -DENABLE_SDL=OFF -DENABLE_DECODER=OFF -DENABLE_ENCODER=OFF

step "dav1d (AV1 decoder)"
src=$(unpack "$3" dav1d)
run meson setup "$src/build" "$src" --prefix="$prefix" --libdir=lib --buildtype=release \
	-Denable_tools=false -Denable_tests=false -Denable_examples=false -Denable_docs=false
run ninja -C "$src/build" -j "$jobs"
run ninja -C "$src/build" install

step "libaom (AV1 encoder only)"
# nasm (x86_64) assembles the SIMD kernels; arm64 uses intrinsics and needs no assembler.
src=$(unpack "$4" aom)
# 8 bits per sample only: ImageMagick is a Q8 build, so no high-bit-depth kernels are needed
# (and less to compile).
cmake_install "$src" -DCONFIG_AV1_DECODER=0 -DCONFIG_AV1_HIGHBITDEPTH=0 -DENABLE_NASM=ON -DENABLE_DOCS=OFF \
	-DENABLE_EXAMPLES=OFF -DENABLE_TESTS=OFF -DENABLE_TESTDATA=OFF -DENABLE_TOOLS=OFF

step "libheif"
# Every codec the function does not use stays off, so the result does not depend on what the
# build host has installed; ImageMagick writes no HEIC (no HEVC encoder).
src=$(unpack "$5" heif)
cmake_install "$src" \
	-DENABLE_PLUGIN_LOADING=OFF -DWITH_LIBDE265=ON -DWITH_DAV1D=ON -DWITH_AOM_ENCODER=ON \
	-DWITH_AOM_DECODER=OFF -DWITH_X265=OFF -DWITH_X264=OFF -DWITH_OpenH264_DECODER=OFF \
	-DWITH_KVAZAAR=OFF -DWITH_UVG266=OFF -DWITH_VVENC=OFF -DWITH_VVDEC=OFF -DWITH_RAV1E=OFF \
	-DWITH_SvtEnc=OFF -DWITH_JPEG_DECODER=OFF -DWITH_JPEG_ENCODER=OFF \
	-DWITH_OpenJPEG_DECODER=OFF -DWITH_OpenJPEG_ENCODER=OFF -DWITH_OPENJPH_ENCODER=OFF \
	-DWITH_FFMPEG_DECODER=OFF -DWITH_UNCOMPRESSED_CODEC=OFF -DWITH_LIBSHARPYUV=OFF \
	-DWITH_EXAMPLES=OFF -DWITH_GDK_PIXBUF=OFF -DWITH_FUZZERS=OFF -DBUILD_DOCUMENTATION=OFF
step "built libde265, dav1d, libaom and libheif into $prefix"
