#!/bin/sh
# jpegli.sh lib PREFIX HIGHWAY_TARBALL JPEGXL_TARBALL LIBJPEGTURBO_TARBALL
# jpegli.sh tools DIR HIGHWAY_TARBALL JPEGXL_TARBALL LIBJPEGTURBO_TARBALL
#
# lib:   jpegli, jpeg-xl's libjpeg-6.2-compatible JPEG codec, as PREFIX/lib/libjpeg.so.62 with
#        the headers ImageMagick's configure checks (jconfig.h, jerror.h, jmorecfg.h,
#        jpeglib.h) in PREFIX/include, so ImageMagick links it in place of libjpeg-turbo.
#        Run by native.sh for the layer and for local builds alike.
# tools: the benchmark's ssimulacra2 and butteraugli_main, into DIR (local.sh jxl-tools).
#
# jpeg-xl's tarball ships third_party/ empty; CMake then silently turns jpegli off unless
# third_party/libjpeg-turbo holds the libjpeg-turbo tree (jpegli takes jconfig.h.in,
# jpeglib.h and jmorecfg.h from it; its install lacks jerror.h, copied here from the same
# tree). highway is built static into a scratch prefix and linked into the result; brotli
# and lcms2 come from the system (jpeg-xl's configure requires them; jpegli uses neither).
# Environment: JOBS (default: number of CPUs), BUILD_LOG (compiler output; default stdout).
set -eu

if [ "$#" -ne 5 ] || { [ "$1" != lib ] && [ "$1" != tools ]; }; then
	echo "usage: $0 lib|tools PREFIX|DIR HIGHWAY_TARBALL JPEGXL_TARBALL LIBJPEGTURBO_TARBALL" >&2
	exit 2
fi
mode=$1
out=$2
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
log=${BUILD_LOG:-/dev/stdout}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { echo "==> $(date +%H:%M:%S) $*"; }

run() {
	if ! "$@" >>"$log" 2>&1; then
		echo "jpegli.sh: failed: $*" >&2
		[ "$log" = /dev/stdout ] || tail -n 40 "$log" >&2
		exit 1
	fi
}

# unpack TARBALL DIR: the tarball's top directory becomes DIR.
unpack() {
	mkdir -p "$2"
	tar -xf "$1" -C "$2" --strip-components=1
}

# message_table ERROR_CC: ImageMagick's JPEG reader warns with libjpeg's message codes (its
# source manager raises JWRN_JPEG_EOF for a truncated file), and jpegli formats every code but
# its own as "Message codes are not supported", which would leave a rejection's reason saying
# nothing. This gives jpegli's error manager libjpeg-turbo's message table (the jerror.h of the
# tree above; its version and copyright entries, which need jversion.h, name jpegli), so
# those codes read as libjpeg-turbo words them. It fails when the source no
# longer has the lines it edits, so a new jpeg-xl release gets a fresh look.
message_table() {
	if ! grep -q '^    "Message codes are not supported, error message is in msg_parm.s string",$' "$1" ||
		! grep -q 'snprintf(buffer, JMSG_LENGTH_MAX, "%s", kErrorMessageTable\[0\]);' "$1"; then
		echo "jpegli.sh: $1 is not the error.cc this script knows; review message_table" >&2
		exit 1
	fi
	cat >"$work/format-code.cc" <<'EOF'

// libjpeg-turbo's messages, by code (message_table in layers/imagemagick/jpegli.sh).
void FormatCode(const jpeg_error_mgr* err, int code, char* buffer) {
  const int n = sizeof(kErrorMessageTable) / sizeof(kErrorMessageTable[0]);
  if (code <= 0 || code >= n) {
    snprintf(buffer, JMSG_LENGTH_MAX, "Bogus message code %d", code);
    return;
  }
  const char* msg = kErrorMessageTable[code];
  if (strstr(msg, "%s") != nullptr) {
    snprintf(buffer, JMSG_LENGTH_MAX, msg, err->msg_parm.s);
  } else {
    snprintf(buffer, JMSG_LENGTH_MAX, msg, err->msg_parm.i[0], err->msg_parm.i[1],
             err->msg_parm.i[2], err->msg_parm.i[3], err->msg_parm.i[4],
             err->msg_parm.i[5], err->msg_parm.i[6], err->msg_parm.i[7]);
  }
}
EOF
	sed -i \
		-e 's|^    "Message codes are not supported, error message is in msg_parm.s string",$|#define JVERSION "jpegli 0.11"\n#define JCOPYRIGHT_SHORT "jpegli: the JPEG XL Project Authors; messages: libjpeg-turbo"\n#define JMESSAGE(code, string) string,\n#include "../../third_party/libjpeg-turbo/jerror.h"|' \
		-e 's|snprintf(buffer, JMSG_LENGTH_MAX, "%s", kErrorMessageTable\[0\]);|FormatCode(err, code, buffer);|' \
		-e "/^const char\* const kErrorMessageTable/,/^};/{/^};/r $work/format-code.cc
}" "$1"
}

step "highway (static, for jpeg-xl)"
unpack "$3" "$work/highway"
run cmake -S "$work/highway" -B "$work/highway/build" -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_INSTALL_PREFIX="$work/hwy" -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED_LIBS=OFF \
	-DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_TESTING=OFF -DHWY_ENABLE_TESTS=OFF \
	-DHWY_ENABLE_EXAMPLES=OFF -DHWY_ENABLE_CONTRIB=OFF -DHWY_ENABLE_INSTALL=ON
run cmake --build "$work/highway/build" -j "$jobs"
run cmake --install "$work/highway/build"

jxl=$work/jpeg-xl
unpack "$4" "$jxl"
unpack "$5" "$jxl/third_party/libjpeg-turbo"
[ -f "$jxl/third_party/libjpeg-turbo/jconfig.h.in" ] || {
	echo "jpegli.sh: $5 has no jconfig.h.in: jpeg-xl would build without jpegli" >&2
	exit 1
}

if [ "$mode" = lib ]; then
	message_table "$jxl/lib/jpegli/error.cc"
	tools=OFF
	targets="jpeg"
else
	# The developer tools need the image codecs, which only JPEGXL_ENABLE_TOOLS defines.
	tools=ON
	targets="ssimulacra2 butteraugli_main"
fi
step "jpeg-xl: $targets"
export PKG_CONFIG_PATH="$work/hwy/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
run cmake -S "$jxl" -B "$jxl/build" \
	-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF \
	-DJPEGXL_ENABLE_JPEGLI=ON -DJPEGXL_ENABLE_JPEGLI_LIBJPEG=ON \
	-DJPEGXL_FORCE_SYSTEM_HWY=ON -DJPEGXL_FORCE_SYSTEM_BROTLI=ON -DJPEGXL_FORCE_SYSTEM_LCMS2=ON \
	-DJPEGXL_ENABLE_SKCMS=OFF -DJPEGXL_ENABLE_SJPEG=OFF -DJPEGXL_ENABLE_OPENEXR=OFF \
	-DJPEGXL_BUNDLE_LIBPNG=OFF -DJPEGXL_ENABLE_TOOLS="$tools" -DJPEGXL_ENABLE_DEVTOOLS="$tools" \
	-DJPEGXL_ENABLE_BENCHMARK=OFF -DJPEGXL_ENABLE_EXAMPLES=OFF -DJPEGXL_ENABLE_DOXYGEN=OFF \
	-DJPEGXL_ENABLE_MANPAGES=OFF -DJPEGXL_ENABLE_JNI=OFF -DJPEGXL_ENABLE_VIEWERS=OFF \
	-DJPEGXL_ENABLE_PLUGINS=OFF -DJPEGXL_ENABLE_TCMALLOC=OFF -DJPEGXL_ENABLE_FUZZERS=OFF
# shellcheck disable=SC2086 # one word per target
run cmake --build "$jxl/build" -j "$jobs" --target $targets

if [ "$mode" = tools ]; then
	mkdir -p "$out"
	for t in $targets; do
		install -m 0755 "$jxl/build/tools/$t" "$out/$t"
	done
	step "built $targets into $out"
	exit 0
fi

lib=$(cd "$jxl/build/lib/jpegli" && ls libjpeg.so.62.*)
mkdir -p "$out/lib" "$out/include"
install -m 0755 "$jxl/build/lib/jpegli/$lib" "$out/lib/$lib"
ln -sf "$lib" "$out/lib/libjpeg.so.62"
ln -sf libjpeg.so.62 "$out/lib/libjpeg.so"
for h in jconfig.h jpeglib.h jmorecfg.h; do
	install -m 0644 "$jxl/build/lib/include/jpegli/$h" "$out/include/$h"
done
install -m 0644 "$jxl/third_party/libjpeg-turbo/jerror.h" "$out/include/jerror.h"
# ImageMagick's configure asks pkg-config for libjpeg >= 2.0.0 first: this one, not the
# system's libjpeg-turbo. Its version is that of the libjpeg-turbo headers jpegli ships.
turbo_version=$(sed -n 's/^set(VERSION \([0-9.]*\)).*/\1/p' "$jxl/third_party/libjpeg-turbo/CMakeLists.txt")
[ -n "$turbo_version" ] || { echo "jpegli.sh: no VERSION in $5's CMakeLists.txt" >&2; exit 1; }
mkdir -p "$out/lib/pkgconfig"
cat >"$out/lib/pkgconfig/libjpeg.pc" <<EOF
prefix=$out
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: libjpeg
Description: jpegli from jpeg-xl, with the libjpeg-turbo ${turbo_version} API (libjpeg.so.62)
Version: ${turbo_version}
Libs: -L\${libdir} -ljpeg
Cflags: -I\${includedir}
EOF
step "built jpegli's $lib into $out/lib"
