#!/usr/bin/env bash
# bench-tools.sh: the Debian packages `make bench` measures against and with.
#   libjpeg-turbo-progs  djpeg | cjpeg, the JPEG floor
#   optipng              the lossless PNG reference
#   webp                 cwebp, the WebP reference
#   time                 GNU time, which reads each tool's peak RSS
# Installs the missing ones (waiting for a running dpkg); does nothing when all are there.
set -euo pipefail

pkgs=(libjpeg-turbo-progs optipng webp time)
if ! command -v dpkg-query >/dev/null; then
	echo "bench-tools.sh: not a Debian system; install the equivalents of ${pkgs[*]} (the report names what it could not run)" >&2
	exit 0
fi
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "bench-tools.sh: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=1800 -qq update >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=1800 -qq install -y \
	--no-install-recommends "${missing[@]}" >&2
