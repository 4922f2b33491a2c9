#!/bin/sh
# build.sh PREFIX SRC_TARBALL
#
# Builds ImageMagick from SRC_TARBALL with the flags in configure.flags, installs it into
# PREFIX and puts policy.xml where the compiled-in configuration path expects it. Run by
# native.sh (its magick step) for the layer and for local builds alike, which also points
# CPPFLAGS, LDFLAGS and PKG_CONFIG_PATH at the delegates it built into PREFIX.
#
# Environment: JOBS (default: number of CPUs), BUILD_LOG (file for compiler output; default
# stdout). POSIX sh: Amazon Linux's builder and Debian run it alike.
set -eu

if [ "$#" -ne 2 ]; then
	echo "usage: $0 PREFIX SRC_TARBALL" >&2
	exit 2
fi
prefix=$1
tarball=$2
here=$(cd "$(dirname "$0")" && pwd)
jobs=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
log=${BUILD_LOG:-/dev/stdout}

case $prefix in
/*) ;;
*) echo "build.sh: PREFIX must be absolute (it is compiled in): $prefix" >&2; exit 2 ;;
esac

step() { echo "==> $(date +%H:%M:%S) $*"; }

# Runs a build step with its output in the log; on failure shows the log's tail, since the
# error is usually in the last lines and the log may be a file the user never sees.
run() {
	if ! "$@" >>"$log" 2>&1; then
		echo "build.sh: failed: $*" >&2
		if [ "$log" != /dev/stdout ]; then
			echo "---- last lines of $log" >&2
			tail -n 40 "$log" >&2
		fi
		exit 1
	fi
}

# Flags: one per line, comments and blank lines dropped. None contains spaces, so word
# splitting below is safe and intended.
flags=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$here/configure.flags")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "unpacking $(basename "$tarball")"
run tar -xf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
cd "$src"

step "configure (log: $log)"
# shellcheck disable=SC2086
run ./configure --prefix="$prefix" $flags

step "make -j$jobs"
run make -j"$jobs"

step "install into $prefix"
run make install

# configure picked websafe as the baseline; the project's policy replaces it.
install -m 0644 "$here/policy.xml" "$prefix/etc/ImageMagick-7/policy.xml"
step "built ImageMagick into $prefix"
