#!/usr/bin/env bash
# local.sh: ImageMagick 7 for local development and CI, built by the same build.sh, flags and
# policy as the Lambda layer (see README.md).
#
#   local.sh prefix        print the cache prefix (exists or not)
#   local.sh build         build into the prefix unless it is there; print "cached: PREFIX"
#   local.sh fetch [DIR]   fetch and verify ImageMagick's tarball and print its path; with DIR,
#                          copy every layer source there (the Dockerfile's build context)
#   local.sh env           print shell exports for building Go code against the prefix
#
# The prefix is $S3IC_CACHE/imagemagick/<version>-<hash12>, the hash covering ImageMagick's
# pins, configure.flags, build.sh and policy.xml: change any of them and a new prefix is built.
# Environment: S3IC_CACHE (default ~/.cache/s3-image-compressor), IMAGEMAGICK_SOURCE (a local
# copy of the pinned tarball, still sha256-checked), S3IC_DEBIAN_MIRROR (Debian archive URI
# when the system's apt sources name none), JOBS.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${S3IC_CACHE:-$HOME/.cache/s3-image-compressor}

die() {
	echo "local.sh: $*" >&2
	exit 1
}
step() { echo "==> $(date +%H:%M:%S) $*" >&2; }

prefix() {
	local hash
	# Only what changes the local build: the HEIC/AVIF pins are the layer's alone.
	hash=$(cd "$here" && { grep '^IMAGEMAGICK_' versions.env; cat configure.flags build.sh policy.xml; } |
		sha256sum | cut -c1-12)
	echo "$cache/imagemagick/$IMAGEMAGICK_VERSION-$hash"
}

# Prints the URI of the Debian archive the system's apt already uses: the entry whose suite is
# the system's own codename (not -security/-updates), from one-line .list files or deb822
# .sources files. No mirror host is written into the repository.
debian_mirror() {
	if [ -n "${S3IC_DEBIAN_MIRROR:-}" ]; then
		echo "$S3IC_DEBIAN_MIRROR"
		return
	fi
	local codename files=()
	codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$codename" ] || die "cannot tell the system's release codename from /etc/os-release; set S3IC_DEBIAN_MIRROR to a Debian archive URI"
	[ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
	for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && files+=("$f")
	done
	local uri
	uri=$(awk -v want="$codename" '
		# exit runs END, so found keeps END from printing a second match.
		function flush() {
			if (found) return
			if (types ~ /(^| )deb(-src)?( |$)/ && enabled != "no" && uris != "") {
				n = split(suites, s, " ")
				for (i = 1; i <= n; i++) if (s[i] == want) { split(uris, u, " "); print u[1]; found = 1; exit }
			}
			types = ""; uris = ""; suites = ""; enabled = ""
		}
		FILENAME ~ /\.sources$/ {
			if ($0 ~ /^[ \t]*$/) { flush(); next }
			if ($0 ~ /^#/) next
			key = tolower($1)
			val = $0; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types:") types = val
			else if (key == "uris:") uris = val
			else if (key == "suites:") suites = val
			else if (key == "enabled:") enabled = tolower(val)
			next
		}
		FNR == 1 { flush() }
		/^[ \t]*deb(-src)?[ \t]/ {
			line = $0; sub(/#.*/, "", line)
			gsub(/\[[^]]*\]/, "", line)
			n = split(line, f, /[ \t]+/)
			j = 0
			for (i = 1; i <= n; i++) if (f[i] != "") a[++j] = f[i]
			if (j >= 3 && a[3] == want) { print a[2]; found = 1; exit }
		}
		END { flush() }
	' "${files[@]}")
	[ -n "$uri" ] || die "no apt source for suite '$codename' in /etc/apt/sources.list{,.d}; set S3IC_DEBIAN_MIRROR to a Debian archive URI"
	echo "${uri%/}"
}

# Reads the private apt index of $DEBIAN_SUITE's sources, updating it once per run, so the
# signed Sources index vouches for each checksum as well as our pin.
apt_opts=()
apt_index() {
	[ "${#apt_opts[@]}" -gt 0 ] && return
	local apt keyring
	mirror=$(debian_mirror)
	apt=$cache/apt-$DEBIAN_SUITE
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/etc"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[ -f "$keyring" ] || die "$keyring missing (package debian-archive-keyring): cannot verify the Debian Sources index"
	echo "deb-src [signed-by=$keyring] $mirror $DEBIAN_SUITE main" >"$apt/etc/sources.list"
	apt_opts=(-o "Dir::Etc::sourcelist=$apt/etc/sources.list" -o Dir::Etc::sourceparts=-
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o APT::Sandbox::User="$(id -un)")
	step "fetching: Debian $DEBIAN_SUITE Sources index from $mirror"
	apt-get "${apt_opts[@]}" -qq update >&2 || die "apt-get update of the private $DEBIAN_SUITE source list failed"
}

# fetch_debian TARBALL SHA256 DEST: downloads only the orig tarball of the source package
# named by TARBALL's prefix (the Debian patches are not needed).
fetch_debian() {
	local tarball=$1 pin=$2 dest=$3 src dir sha
	apt_index
	src=$(apt-cache "${apt_opts[@]}" showsrc "${tarball%%_*}")
	# A package may be listed in several versions; the tarball name picks ours.
	read -r dir sha < <(awk -v f="$tarball" '
		/^Package:/ { d = ""; s = "" }
		/^Directory:/ { d = $2 }
		/^Checksums-Sha256:/ { c = 1; next }
		/^[^ ]/ { c = 0 }
		c && $3 == f { s = $1 }
		/^$/ && s != "" { print d, s; exit }
		END { if (s != "") print d, s }
	' <<<"$src") || true
	if [ -z "${dir:-}" ] || [ -z "${sha:-}" ]; then
		die "$tarball is not in Debian $DEBIAN_SUITE's Sources index"
	fi
	[ "$sha" = "$pin" ] || die "sha256 mismatch for $tarball: Debian's Sources index says $sha, versions.env pins $pin"
	step "fetching: $mirror/$dir/$tarball"
	/usr/lib/apt/apt-helper -o APT::Sandbox::User="$(id -un)" download-file \
		"$mirror/$dir/$tarball" "$dest" "SHA256:$pin" >&2 || die "download of $tarball failed"
}

# fetch NAME: prints the path of the verified tarball pinned as NAME_TARBALL/NAME_SHA256 in the
# cache, fetching it first if needed. IMAGEMAGICK_SOURCE may name a local copy of ImageMagick's.
fetch() {
	local tarball_var=${1}_TARBALL sha_var=${1}_SHA256
	local tarball=${!tarball_var} pin=${!sha_var}
	local dest=$cache/sources/$tarball
	mkdir -p "$cache/sources"
	if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$pin" ]; then
		echo "$dest"
		return
	fi
	rm -f "$dest" "$dest.part"
	if [ "$1" = IMAGEMAGICK ] && [ -n "${IMAGEMAGICK_SOURCE:-}" ]; then
		cp "$IMAGEMAGICK_SOURCE" "$dest.part"
	else
		command -v apt-get >/dev/null || die "no apt on this system: download $tarball yourself (and set IMAGEMAGICK_SOURCE to it)"
		fetch_debian "$tarball" "$pin" "$dest.part"
	fi
	local got
	got=$(sha256sum "$dest.part" | cut -d' ' -f1)
	[ "$got" = "$pin" ] || die "sha256 of $tarball is $got, versions.env pins $pin"
	mv "$dest.part" "$dest"
	echo "$dest"
}

# Debian packages the build needs; installs the missing ones (waiting for a running dpkg).
build_deps() {
	local pkgs=(gcc make pkg-config xz-utils libjpeg62-turbo-dev libpng-dev zlib1g-dev libwebp-dev
		libtiff-dev liblcms2-dev libheif-dev) missing=() p sudo=()
	command -v dpkg-query >/dev/null || {
		echo "local.sh: not a Debian system; make sure the equivalents of these are installed: ${pkgs[*]}" >&2
		return
	}
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ "${#missing[@]}" -eq 0 ] && return
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	step "installing build dependencies: ${missing[*]}"
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=1800 -qq update >&2
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=1800 -qq install -y \
		--no-install-recommends "${missing[@]}" >&2
}

build() {
	local pfx tarball work start
	pfx=$(prefix)
	if [ -x "$pfx/bin/magick" ]; then
		echo "cached: $pfx"
		return
	fi
	mkdir -p "$cache/imagemagick"
	# Two builds of the same prefix (parallel make targets, two shells) would collide.
	exec 9>"$pfx.lock"
	if ! flock -n 9; then
		step "another build of $pfx is running; waiting"
		flock 9
	fi
	if [ -x "$pfx/bin/magick" ]; then
		echo "cached: $pfx"
		return
	fi
	start=$SECONDS
	build_deps
	tarball=$(fetch IMAGEMAGICK)
	work=$pfx.build
	rm -rf "$work"
	mkdir -p "$work"
	step "building ImageMagick $IMAGEMAGICK_VERSION into $pfx"
	# Installed into a staging directory and moved into place, so an interrupted build never
	# leaves a prefix that looks cached.
	BUILD_LOG=$work/build.log WORKDIR=$work/src DESTDIR=$work/stage \
		"$here/build.sh" "$pfx" "$tarball" >&2
	mv "$work/stage$pfx" "$pfx"
	if ! "$here/verify.sh" "$pfx" >&2 || ! cmp -s "$here/policy.xml" "$pfx/etc/ImageMagick-7/policy.xml"; then
		mv "$pfx" "$work/failed"
		die "verification failed; the build is kept in $work/failed (log: $work/build.log)"
	fi
	rm -rf "$work"
	step "done in $((SECONDS - start)) s"
	echo "$pfx"
}

case "${1:-}" in
prefix) prefix ;;
build) build ;;
fetch)
	# With DIR (the Dockerfile's layers/imagemagick/src): every layer source, so Docker needs
	# no download; the HEIC/AVIF ones are optional, the Dockerfile can download them.
	if [ -z "${2:-}" ]; then
		fetch IMAGEMAGICK
		exit
	fi
	mkdir -p "$2"
	cp "$(fetch IMAGEMAGICK)" "$2/"
	for name in LIBDE265 DAV1D LIBHEIF; do
		if t=$(fetch "$name"); then
			cp "$t" "$2/"
		else
			echo "local.sh: $name not fetched; the Dockerfile will download it from ${name}_URL" >&2
		fi
	done
	ls -1 "$2"
	;;
env)
	p=$(prefix)
	printf 'export MAGICK_PREFIX=%q\n' "$p"
	printf 'export PKG_CONFIG_PATH=%q\n' "$p/lib/pkgconfig"
	printf 'export CGO_LDFLAGS=%q\n' "-Wl,-rpath,$p/lib"
	printf 'export PATH=%q\n' "$p/bin:$PATH"
	;;
*)
	echo "usage: $0 prefix|build|fetch [DIR]|env" >&2
	exit 2
	;;
esac
