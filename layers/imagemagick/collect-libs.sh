#!/bin/sh
# collect-libs.sh PREFIX OUT RUNTIME_LIBS
#
# Builds the layer tree OUT from an ImageMagick installed in PREFIX: bin/magick, the
# configuration (etc/, share/ImageMagick-7) and lib/ with every shared library that magick
# and libMagickWand load, except those the Lambda runtime already has (RUNTIME_LIBS lists the
# file names in the runtime image's /usr/lib64, taken before any package was installed).
# Libraries are copied by the name the loader asks for, dereferenced (Lambda layers are zip
# files) and stripped. Uses the dynamic loader directly: the minimal image has no ldd.
set -eu

if [ "$#" -ne 3 ]; then
	echo "usage: $0 PREFIX OUT RUNTIME_LIBS" >&2
	exit 2
fi
prefix=$1
out=$2
runtime=$3

loader=
for l in /lib64/ld-linux-x86-64.so.2 /lib/ld-linux-aarch64.so.1; do
	[ -x "$l" ] && loader=$l
done
[ -n "$loader" ] || { echo "collect-libs.sh: no dynamic loader found" >&2; exit 1; }

mkdir -p "$out/bin" "$out/lib" "$out/share"
cp -L "$prefix/bin/magick" "$out/bin/magick"
cp -R "$prefix/etc" "$out/etc"
cp -R "$prefix/share/ImageMagick-7" "$out/share/ImageMagick-7"

# "libfoo.so.1 => /usr/lib64/libfoo.so.1.2.3 (0x...)": the left name is what the loader
# looks for in /opt/lib at run time. One name must resolve to one file: libjpeg.so.62 is
# jpegli for ImageMagick, and must not be libjpeg-turbo for libtiff.
resolved=$(for elf in "$prefix/bin/magick" "$prefix"/lib/libMagickWand-7.*.so; do
	"$loader" --list "$elf"
done | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u)
twice=$(echo "$resolved" | awk '{ print $1 }' | uniq -d)
if [ -n "$twice" ]; then
	echo "collect-libs.sh: these libraries resolve to more than one file: $twice" >&2
	echo "$resolved" >&2
	exit 1
fi
echo "$resolved" | while read -r name path; do
	if grep -qx "$name" "$runtime"; then
		continue
	fi
	cp -L "$path" "$out/lib/$name"
	echo "layer: lib/$name (from $path)"
done
strip --strip-unneeded "$out/bin/magick" "$out"/lib/*.so*
