#!/usr/bin/env bash
# apt-install.sh PACKAGE...: installs the Debian packages that are missing, waiting for a
# running dpkg; does nothing when all are there. `make packages` names the project's list.
set -euo pipefail

if ! command -v dpkg-query >/dev/null; then
	echo "apt-install.sh: not a Debian system; install the equivalents of: $*" >&2
	exit 0
fi
missing=()
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "apt-install.sh: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=1800 -qq update >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=1800 -qq install -y \
	--no-install-recommends "${missing[@]}" >&2
