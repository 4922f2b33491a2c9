#!/bin/sh
# heif.sh PREFIX LIBDE265_TARBALL DAV1D_TARBALL LIBHEIF_TARBALL
#
# Builds the HEIC/AVIF decoding stack into PREFIX for the Lambda layer: libde265 (HEVC),
# dav1d (AV1) and libheif on top, decoders only, no plugins. Amazon Linux 2023 packages none
# of them. Local builds use Debian's libheif instead, so this runs only in the Dockerfile.
set -eu

if [ "$#" -ne 4 ]; then
	echo "usage: $0 PREFIX LIBDE265_TARBALL DAV1D_TARBALL LIBHEIF_TARBALL" >&2
	exit 2
fi
prefix=$1
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { echo "==> $(date +%H:%M:%S) $*"; }

# Unpacks a tarball into $work and prints the directory it created.
unpack() {
	mkdir "$work/$2"
	tar -xf "$1" -C "$work/$2"
	find "$work/$2" -mindepth 1 -maxdepth 1 -type d | head -n 1
}

cmake_install() {
	cmake -S "$1" -B "$1/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
		-DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_INSTALL_RPATH="$prefix/lib" -DBUILD_SHARED_LIBS=ON \
		-DBUILD_TESTING=OFF "$@"
	cmake --build "$1/build" -j "$jobs"
	cmake --install "$1/build"
}

step "libde265"
src=$(unpack "$2" de265)
cmake_install "$src" -DENABLE_SDL=OFF -DENABLE_DECODER=OFF -DENABLE_ENCODER=OFF

step "dav1d"
src=$(unpack "$3" dav1d)
meson setup "$src/build" "$src" --prefix="$prefix" --libdir=lib --buildtype=release \
	-Denable_tools=false -Denable_tests=false -Denable_examples=false
ninja -C "$src/build" -j "$jobs"
ninja -C "$src/build" install

step "libheif"
src=$(unpack "$4" heif)
# Unknown options of other libheif versions only cause a CMake warning; every encoder and
# plugin loader stays off, since the function writes HEIC and AVIF as other formats.
PKG_CONFIG_PATH=$prefix/lib/pkgconfig cmake_install "$src" \
	-DWITH_LIBDE265=ON -DWITH_DAV1D=ON -DENABLE_PLUGIN_LOADING=OFF \
	-DWITH_X265=OFF -DWITH_KVAZAAR=OFF -DWITH_UVG266=OFF -DWITH_VVENC=OFF -DWITH_VVDEC=OFF \
	-DWITH_AOM_DECODER=OFF -DWITH_AOM_ENCODER=OFF -DWITH_RAV1E=OFF -DWITH_SvtEnc=OFF \
	-DWITH_JPEG_DECODER=OFF -DWITH_JPEG_ENCODER=OFF -DWITH_OpenJPEG_DECODER=OFF \
	-DWITH_OpenJPEG_ENCODER=OFF -DWITH_OPENJPH_DECODER=OFF -DWITH_OPENJPH_ENCODER=OFF \
	-DWITH_FFMPEG_DECODER=OFF -DWITH_UNCOMPRESSED_CODEC=OFF -DWITH_LIBSHARPYUV=OFF \
	-DWITH_EXAMPLES=OFF -DWITH_GDK_PIXBUF=OFF -DWITH_FUZZERS=OFF -DBUILD_DOCUMENTATION=OFF
step "built libde265, dav1d and libheif into $prefix"
