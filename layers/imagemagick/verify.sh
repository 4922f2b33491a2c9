#!/bin/sh
# verify.sh PREFIX
#
# Proves an installed ImageMagick is the one the function expects: Q8 without HDRI, every
# delegate compiled in, the project's policy active from PREFIX's compiled-in config path, a
# round trip through each format the function writes (AVIF included), HEIC decoding, and one
# policy denial. Run on the build (local.sh, the Dockerfile's builder) and on the collected
# layer alone: the Dockerfile's verify stage (bare provided.al2023 plus /opt) and local.sh's
# isolated root (a minimal C runtime plus the layer), where a missing library fails here,
# not in production.
# POSIX sh with shell pattern matching only: the Lambda base image has no grep.
set -eu

if [ "$#" -ne 1 ]; then
	echo "usage: $0 PREFIX" >&2
	exit 2
fi
prefix=$1
here=$(cd "$(dirname "$0")" && pwd)
magick=$prefix/bin/magick
policy=$prefix/etc/ImageMagick-7/policy.xml

fail() {
	echo "verify.sh: $*" >&2
	exit 1
}

version=$("$magick" -version) || fail "$magick -version failed (missing shared library?)"
echo "$version"
case $version in
*" Q8 "*) ;;
*) fail "expected a Q8 build" ;;
esac
case $version in
*HDRI*) fail "expected a build without HDRI" ;;
esac
nl='
'
delegates=${version#*Delegates (built-in):}
delegates=${delegates%%"$nl"*}
for d in heic jpeg lcms png tiff webp zlib; do
	case " $delegates " in
	*" $d "*) ;;
	*) fail "delegate $d missing from: $delegates" ;;
	esac
done

policies=$("$magick" -list policy)
case $policies in
*"Path: $policy"*) ;;
*) fail "magick -list policy does not show $policy: $policies" ;;
esac
case $(cat "$policy") in
*"s3-image-compressor security policy"*) ;;
*) fail "$policy is not the project's policy" ;;
esac
echo "policy: $policy"

tmp=${TMPDIR:-/tmp}/verify-magick.$$
mkdir "$tmp"
trap 'rm -rf "$tmp"' EXIT
"$magick" -size 320x240 plasma:fractal "$tmp/sample.png"
# AVIF is written by libaom (at the fastest speed: this checks the codec, not its settings)
# and read back by dav1d.
for ext in jpg png webp gif tiff avif; do
	"$magick" "$tmp/sample.png" -quality 80 -define heic:speed=9 "$tmp/sample.$ext" || fail "writing $ext failed"
	"$magick" "$tmp/sample.$ext" -strip -quality 80 "$tmp/out-$ext.jpg" || fail "reading $ext failed"
	echo "ok: $ext round trip"
done
# HEIC is only decoded (no HEVC encoder; the policy denies writing it), and so is an AVIF
# made by another encoder: read the fixtures.
for ext in heic avif; do
	"$magick" "$here/testdata/sample.$ext" -quality 80 "$tmp/out-$ext.jpg" || fail "reading $ext failed"
	echo "ok: $ext decoded"
done
if "$magick" "$tmp/sample.png" "$tmp/refused.heic" 2>/dev/null; then
	fail "HEIC was written: the policy should allow reading it only"
fi
echo "ok: HEIC writing refused"

# An MVG drawing named as such: recognised as MVG, so only the policy can refuse it.
printf 'push graphic-context\nviewbox 0 0 64 64\nfill red\nrectangle 0 0 64 64\npop graphic-context\n' >"$tmp/payload.mvg"
if err=$("$magick" "$tmp/payload.mvg" "$tmp/payload-out.png" 2>&1); then
	fail "an MVG payload was converted: the policy is not active"
fi
case $err in
*"not allowed by the security policy"*) ;;
*) fail "the MVG payload failed, but not because of the policy: $err" ;;
esac
echo "ok: MVG payload refused by the policy"
