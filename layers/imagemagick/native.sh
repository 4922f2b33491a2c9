#!/bin/sh
# native.sh PREFIX SOURCES [STEP...]
#
# Builds the layer's native stack into PREFIX, the path it will run from (/opt in the layer),
# from SOURCES/NAME for each source NAME of versions.env: the links fetch.sh makes to the
# tarballs it checked. Steps, run in this order
# (default: all of them):
#   heif    libde265, dav1d, libaom and libheif (heif.sh)
#   jpegli  jpegli's libjpeg.so.62 (jpegli.sh lib)
#   magick  ImageMagick 7 against both (build.sh), found through PREFIX before the system
# The one build for both: the Dockerfile runs one step per RUN (each its own cached layer),
# local.sh all of them. Environment: JOBS, BUILD_LOG (compiler output; default stdout).
set -eu

if [ "$#" -lt 2 ]; then
	echo "usage: $0 PREFIX SOURCES [heif] [jpegli] [magick]" >&2
	exit 2
fi
prefix=$1
sources=$2
shift 2
[ "$#" -gt 0 ] || set -- heif jpegli magick
here=$(cd "$(dirname "$0")" && pwd)

case $prefix in
/*) ;;
*) echo "native.sh: PREFIX must be absolute (it is compiled in): $prefix" >&2; exit 2 ;;
esac

src() {
	[ -e "$sources/$1" ] || { echo "native.sh: no $sources/$1: run fetch.sh $sources first" >&2; exit 1; }
	echo "==> $1: $(readlink "$sources/$1" || echo "$1")" >&2
	echo "$sources/$1"
}

# What PREFIX holds wins over the system's copies of the same libraries (libjpeg above all).
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export CPPFLAGS="-I$prefix/include${CPPFLAGS:+ $CPPFLAGS}"
export LDFLAGS="-L$prefix/lib -Wl,-rpath,$prefix/lib${LDFLAGS:+ $LDFLAGS}"

for step in "$@"; do
	case $step in
	heif)
		de265=$(src LIBDE265)
		dav1d=$(src DAV1D)
		aom=$(src AOM)
		heif=$(src LIBHEIF)
		"$here/heif.sh" "$prefix" "$de265" "$dav1d" "$aom" "$heif"
		;;
	jpegli)
		hwy=$(src HIGHWAY)
		jxl=$(src JPEGXL)
		turbo=$(src LIBJPEGTURBO)
		"$here/jpegli.sh" lib "$prefix" "$hwy" "$jxl" "$turbo"
		;;
	magick)
		magick=$(src IMAGEMAGICK)
		"$here/build.sh" "$prefix" "$magick"
		;;
	*)
		echo "native.sh: unknown step $step (heif, jpegli, magick)" >&2
		exit 2
		;;
	esac
done
