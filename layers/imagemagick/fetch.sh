#!/bin/sh
# fetch.sh DIR [NAME...]
#
# Makes DIR/NAME a link to the checked tarball of each source NAME of versions.env
# (IMAGEMAGICK, LIBHEIF, ...; default: all of them), downloading it first when DIR lacks it:
#   1. DIR/$NAME_TARBALL (Debian's orig, e.g. put there by `local.sh fetch DIR`), checked
#      against $NAME_SHA256;
#   2. otherwise the download of $NAME_URL, checked against $NAME_URL_SHA256 (or
#      $NAME_SHA256 when upstream's bytes are Debian's), kept in DIR.
# native.sh reads the sources as DIR/NAME, whichever file that is. The pins come from the
# environment (the Dockerfile's build args), else from versions.env. The Dockerfile runs it
# in a stage of its own before anything compiles, so a missing or corrupt source fails in
# seconds; local.sh runs it on the Debian tarballs it downloaded.
set -eu

if [ "$#" -lt 1 ]; then
	echo "usage: $0 DIR [NAME...]" >&2
	exit 2
fi
dir=$1
shift
here=$(cd "$(dirname "$0")" && pwd)

fail() {
	echo "fetch.sh: $*" >&2
	exit 1
}

# Defaults for every pin the environment does not set (set but empty counts as set, so an
# explicit empty build arg stays empty).
while IFS= read -r line; do
	case $line in
	[A-Z]*=*)
		key=${line%%=*}
		eval "[ -n \"\${$key+set}\" ] || $key=\${line#*=}"
		;;
	esac
done <"$here/versions.env"

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# link NAME FILE: DIR/NAME points at FILE (a name in DIR).
link() {
	ln -sf "${2##*/}" "$dir/$1"
	echo "$1: ${2##*/}"
}

# shellcheck disable=SC2046 # one word per source name
[ "$#" -gt 0 ] || set -- $(sed -n 's/^\([A-Z0-9]*\)_TARBALL=.*/\1/p' "$here/versions.env")
mkdir -p "$dir"
for name in "$@"; do
	eval "tarball=\${${name}_TARBALL:-} pin=\${${name}_SHA256:-} url=\${${name}_URL:-} url_pin=\${${name}_URL_SHA256:-}"
	{ [ -n "$tarball" ] && [ -n "$pin" ]; } || fail "no ${name}_TARBALL/${name}_SHA256 in the environment or versions.env"

	if [ -f "$dir/$tarball" ]; then
		got=$(sha256 "$dir/$tarball")
		[ "$got" = "$pin" ] || fail "sha256 of $dir/$tarball is $got, ${name}_SHA256 pins $pin"
		link "$name" "$tarball"
		continue
	fi

	[ -n "$url" ] || fail "$tarball is not in $dir and ${name}_URL is empty.
  Put it there with: layers/imagemagick/local.sh fetch layers/imagemagick/src
  or pass the ${name}_URL and ${name}_URL_SHA256 build args."
	# Upstream's own bytes get a name of their own, so they are never taken for Debian's.
	if [ -n "$url_pin" ]; then
		want=$url_pin
		file=$dir/upstream-$(echo "$name" | tr 'A-Z_' 'a-z-')-${url##*/}
	else
		want=$pin
		file=$dir/$tarball
	fi
	if [ ! -f "$file" ]; then
		command -v curl >/dev/null || fail "curl is needed to download $url"
		echo "==> fetching $url" >&2
		curl -fsSL --retry 3 -o "$file.part" "$url" || fail "download of $url failed"
		mv "$file.part" "$file"
	fi
	got=$(sha256 "$file")
	if [ "$got" != "$want" ]; then
		rm -f "$file"
		fail "sha256 of $url is $got, the pin is $want"
	fi
	link "$name" "$file"
done
