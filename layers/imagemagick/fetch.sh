#!/bin/sh
# fetch.sh DIR TARBALL SHA256 [URL]
#
# Prints the path of DIR/TARBALL after checking its sha256, downloading it from URL first when
# it is not there. The Dockerfile uses it for every source: a tarball that local.sh placed in
# the build context wins, a download is the fallback, and either way the pin decides.
set -eu

if [ "$#" -lt 3 ]; then
	echo "usage: $0 DIR TARBALL SHA256 [URL]" >&2
	exit 2
fi
dir=$1
name=$2
want=$3
url=${4:-}
file=$dir/$name

if [ ! -f "$file" ]; then
	if [ -z "$url" ]; then
		echo "fetch.sh: $name is not in $dir and no download URL is set." >&2
		echo "  Put it there with: layers/imagemagick/local.sh fetch layers/imagemagick/src" >&2
		echo "  or pass the URL build arg (with the matching TARBALL and SHA256 args)." >&2
		exit 1
	fi
	echo "==> fetching $url" >&2
	curl -fsSL --retry 3 -o "$file.part" "$url"
	mv "$file.part" "$file"
fi
got=$(sha256sum "$file" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
	echo "fetch.sh: sha256 of $name is $got, the pin is $want" >&2
	exit 1
fi
echo "$file"
