#!/usr/bin/env bash
# local.sh: the layer's native stack (libde265, dav1d, libaom, libheif, jpegli, ImageMagick 7)
# for local development and CI, built by the Dockerfile's own scripts (native.sh and the
# scripts it runs) from the same pinned sources: Debian trixie's orig tarballs (README.md).
#
#   local.sh prefix       print the cache prefix (built or not)
#   local.sh build        build the prefix unless it is there, then prove the collected layer
#                         in an isolated root; print "cached: PREFIX" or PREFIX
#   local.sh fetch [DIR]  fetch and verify every source into the cache and print their paths;
#                         with DIR, copy them there (the Dockerfile's layers/imagemagick/src)
#   local.sh env          print shell exports for building Go code against the prefix
#   local.sh layer        print the collected layer of the prefix (what Lambda gets in /opt)
#   local.sh jxl-tools    build ssimulacra2 and butteraugli_main unless they are there; print
#                         the directory that holds them (and nothing else on stdout)
#
# The prefix is $S3IC_CACHE/imagemagick/<version>-<hash12>, the hash covering versions.env,
# configure.flags, policy.xml and every build script: change any of them and a new prefix is
# built. Environment: S3IC_CACHE (default ~/.cache/s3-image-compressor), S3IC_DEBIAN_MIRROR
# (Debian archive URI when the system's apt sources name none), JOBS.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${S3IC_CACHE:-$HOME/.cache/s3-image-compressor}
sources=$cache/sources

die() {
	echo "local.sh: $*" >&2
	exit 1
}
step() { echo "==> $(date +%H:%M:%S) $*" >&2; }

# Everything that decides what the prefix holds.
build_inputs=(versions.env configure.flags policy.xml native.sh fetch.sh heif.sh jpegli.sh build.sh)
# Everything that decides how the built prefix is checked.
verify_inputs=(verify.sh collect-libs.sh local.sh testdata/sample.heic testdata/sample.avif)

hash_of() { (cd "$here" && cat "$@" | sha256sum | cut -c1-12); }

prefix() { echo "$cache/imagemagick/$IMAGEMAGICK_VERSION-$(hash_of "${build_inputs[@]}")"; }

# The source names of versions.env, in its order.
source_names() { sed -n 's/^\([A-Z0-9]*\)_TARBALL=.*/\1/p' "$here/versions.env"; }

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
# named by TARBALL's prefix (the Debian patches are not needed). Where $DEBIAN_SUITE's signed
# Sources index lists the tarball, its sha256 must equal the pin too; a version the index no
# longer lists (superseded, still in the pool) is found by Debian's pool layout and vouched
# for by the pin alone (versions.env names the recipes that agree with it).
fetch_debian() {
	local tarball=$1 pin=$2 dest=$3 pkg src dir sha
	pkg=${tarball%%_*}
	apt_index
	src=$(apt-cache "${apt_opts[@]}" showsrc "$pkg" 2>/dev/null) || true
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
	if [ -n "${sha:-}" ]; then
		[ "$sha" = "$pin" ] || die "sha256 mismatch for $tarball: Debian's Sources index says $sha, versions.env pins $pin"
	else
		case $pkg in
		lib?*) dir=pool/main/${pkg:0:4}/$pkg ;;
		*) dir=pool/main/${pkg:0:1}/$pkg ;;
		esac
		step "$tarball is not in Debian $DEBIAN_SUITE's Sources index; trying $dir with the pinned sha256"
	fi
	step "fetching: $mirror/$dir/$tarball"
	/usr/lib/apt/apt-helper -o APT::Sandbox::User="$(id -un)" download-file \
		"$mirror/$dir/$tarball" "$dest" "SHA256:$pin" >&2 || die "download of $tarball failed"
}

# fetch NAME: prints the path of NAME's verified Debian tarball in the cache, fetching it first
# if needed.
fetch() {
	local tarball_var=${1}_TARBALL sha_var=${1}_SHA256
	local tarball=${!tarball_var} pin=${!sha_var}
	local dest=$sources/$tarball got
	mkdir -p "$sources"
	if [ -f "$dest" ] && [ "$(sha256sum "$dest" | cut -d' ' -f1)" = "$pin" ]; then
		echo "$dest"
		return
	fi
	rm -f "$dest" "$dest.part"
	command -v apt-get >/dev/null || die "no apt on this system: put $tarball (sha256 $pin) into $sources yourself"
	fetch_debian "$tarball" "$pin" "$dest.part"
	got=$(sha256sum "$dest.part" | cut -d' ' -f1)
	[ "$got" = "$pin" ] || die "sha256 of $tarball is $got, versions.env pins $pin"
	mv "$dest.part" "$dest"
	echo "$dest"
}

# link_sources DIR: every source, fetched before anything compiles (a missing one fails in
# seconds), linked into DIR, where fetch.sh checks each again and names it as native.sh reads
# it (DIR/NAME), exactly as in the Dockerfile.
link_sources() {
	local dir=$1 name t
	apt_index
	rm -rf "$dir"
	mkdir -p "$dir"
	for name in $(source_names); do
		t=$(fetch "$name")
		ln -s "$t" "$dir/"
	done
	"$here/fetch.sh" "$dir" >&2
}

# Debian packages the build needs; installs the missing ones (waiting for a running dpkg).
# nasm assembles x86 SIMD code (dav1d, libaom); arm64 needs none.
build_deps() {
	local pkgs=(gcc g++ make pkg-config xz-utils cmake meson ninja-build busybox-static
		libpng-dev zlib1g-dev libwebp-dev libtiff-dev liblcms2-dev libbrotli-dev) missing=() p sudo=()
	[ "$(uname -m)" = x86_64 ] && pkgs+=(nasm)
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

# lock FILE: holds an exclusive lock on FILE until the script exits, waiting for another
# build of the same thing (parallel make targets, two shells) to finish first.
lock() {
	exec 9>"$1"
	if ! flock -n 9; then
		step "another build holds $1; waiting"
		flock 9
	fi
}

# The libraries of provided.al2023's /lib64 that the layer may rely on (FACTS: glibc,
# libgcc_s, libstdc++, zlib, xz, bzip2, zstd, libxml2, OpenSSL 3), by the SONAME the
# loader asks for. Debian's copies stand in for Amazon Linux's.
runtime_sonames=(libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libgcc_s.so.1 libstdc++.so.6
	libz.so.1 liblzma.so.5 libbz2.so.1.0 libzstd.so.1 libxml2.so.2 libcrypto.so.3 libssl.so.3)

# The dynamic loader's path as binaries name it (PT_INTERP).
loader() {
	case $(uname -m) in
	x86_64) echo /lib64/ld-linux-x86-64.so.2 ;;
	aarch64) echo /lib/ld-linux-aarch64.so.1 ;;
	*) die "no loader known for $(uname -m)" ;;
	esac
}

# isolated_verify PREFIX LAYER: runs verify.sh in a root that holds only the minimal C
# runtime above (in /usr/lib64, as on Amazon Linux), a static busybox as /bin/sh and its
# tools, and LAYER at PREFIX, the path compiled into it (the layer's /opt in Lambda), with
# Lambda's LD_LIBRARY_PATH. A library the layer forgot is "not found" here.
isolated_verify() {
	local pfx=$1 layer=$2 root soname path ld arch_tag applet status=0
	root=$(mktemp -d "$cache/isolated.XXXXXX")
	mkdir -p "$root/usr/lib64" "$root/bin" "$root/tmp" "$root/dev" "$root/verify" "$root$pfx"
	chmod 1777 "$root/tmp"
	ln -s usr/lib64 "$root/lib64"
	ld=$(loader)
	[ "$(uname -m)" = x86_64 ] && arch_tag=x86-64 || arch_tag=AArch64
	mkdir -p "$root$(dirname "$ld")"
	cp -L "$ld" "$root$ld"
	for soname in "${runtime_sonames[@]}"; do
		path=$(/sbin/ldconfig -p | awk -v n="$soname" -v a="$arch_tag" '$1 == n && index($0, a) { print $NF; exit }')
		[ -n "$path" ] || die "the isolated root needs $soname, which this system lacks"
		cp -L "$path" "$root/usr/lib64/$soname"
	done
	command -v busybox >/dev/null || die "busybox (package busybox-static) is needed for the isolated root's /bin/sh"
	cp "$(command -v busybox)" "$root/bin/busybox"
	for applet in $(busybox --list); do
		[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
	done
	cp -R "$layer/." "$root$pfx/"
	cp "$here/verify.sh" "$root/verify/"
	cp -R "$here/testdata" "$root/verify/testdata"
	for dev in null zero urandom; do : >"$root/dev/$dev"; done

	# A private mount namespace, so the device binds vanish with it; as a user namespace's
	# root when not root (no sudo needed).
	local ns=(unshare --mount --fork)
	[ "$(id -u)" -eq 0 ] || ns=(unshare --user --map-root-user --mount --fork)
	step "verify.sh in an isolated root: only the layer and a minimal C runtime"
	# shellcheck disable=SC2016 # expanded by the inner shell
	"${ns[@]}" sh -c '
		root=$1 pfx=$2
		for dev in null zero urandom; do mount --bind "/dev/$dev" "$root/dev/$dev" || exit 1; done
		exec env -i PATH=/bin HOME=/tmp TMPDIR=/tmp \
			LD_LIBRARY_PATH="/lib64:/usr/lib64:/opt/lib:$pfx/lib" \
			"$(command -v chroot)" "$root" /bin/sh /verify/verify.sh "$pfx"
	' sh "$root" "$pfx" >&2 || status=$?
	rm -rf "$root"
	[ "$status" -eq 0 ] || die "verify.sh failed in the isolated root (exit $status): the layer lacks something the runtime does not have"
}

# verify_layer PREFIX: verify.sh on the prefix, then the layer collect-libs.sh makes of it
# (PREFIX.layer) in the isolated root. Skipped when it passed with today's verify inputs.
verify_layer() {
	local pfx=$1 layer=$1.layer stamp list
	stamp=$(hash_of "${verify_inputs[@]}")
	if [ "$(cat "$pfx/.verified" 2>/dev/null)" = "$stamp" ]; then
		return
	fi
	"$here/verify.sh" "$pfx" >&2 || die "verify.sh $pfx failed"
	list=$(mktemp)
	printf '%s\n' "${runtime_sonames[@]}" >"$list"
	rm -rf "$layer"
	"$here/collect-libs.sh" "$pfx" "$layer" "$list" >&2 || { rm -f "$list"; die "collect-libs.sh failed"; }
	rm -f "$list"
	isolated_verify "$pfx" "$layer"
	step "layer: $(du -sh "$layer" | cut -f1) unzipped in $layer"
	echo "$stamp" >"$pfx/.verified"
}

build() {
	local pfx start log
	pfx=$(prefix)
	if [ -f "$pfx/.built" ] && [ "$(cat "$pfx/.verified" 2>/dev/null)" = "$(hash_of "${verify_inputs[@]}")" ]; then
		echo "cached: $pfx"
		return
	fi
	mkdir -p "$cache/imagemagick"
	lock "$pfx.lock"
	start=$SECONDS
	if [ ! -f "$pfx/.built" ]; then
		build_deps
		step "fetching every source before compiling"
		link_sources "$pfx.sources"
		# The prefix is compiled in, so the build installs into it directly; only the
		# .built stamp, written last, makes it count as built.
		rm -rf "$pfx" "$pfx.layer"
		mkdir -p "$pfx"
		log=$pfx.log
		: >"$log"
		step "building the native stack into $pfx (log: $log)"
		BUILD_LOG=$log "$here/native.sh" "$pfx" "$pfx.sources" >&2 || die "the build failed (log: $log)"
		rm -rf "$pfx.sources"
		touch "$pfx/.built"
	fi
	verify_layer "$pfx"
	step "done in $((SECONDS - start)) s"
	echo "$pfx"
}

# jxl_tools: ssimulacra2 and butteraugli_main from the same jpeg-xl, highway and libjpeg-turbo
# pins, in a directory keyed by those pins and jpegli.sh.
jxl_tools() {
	local dir
	dir=$cache/jxl-tools/$(cd "$here" && { grep -E '^(HIGHWAY|JPEGXL|LIBJPEGTURBO)_' versions.env; cat jpegli.sh fetch.sh; } |
		sha256sum | cut -c1-12)
	if [ ! -f "$dir/.built" ]; then
		mkdir -p "$cache/jxl-tools"
		lock "$dir.lock"
	fi
	if [ ! -f "$dir/.built" ]; then
		build_deps
		local hwy jxl turbo
		hwy=$(fetch HIGHWAY)
		jxl=$(fetch JPEGXL)
		turbo=$(fetch LIBJPEGTURBO)
		rm -rf "$dir"
		step "building ssimulacra2 and butteraugli_main into $dir"
		BUILD_LOG=$dir.log "$here/jpegli.sh" tools "$dir" "$hwy" "$jxl" "$turbo" >&2 ||
			die "the jxl tools build failed (log: $dir.log)"
		touch "$dir/.built"
	fi
	echo "$dir"
}

case "${1:-}" in
prefix) prefix ;;
build) build ;;
fetch)
	apt_index
	for name in $(source_names); do
		t=$(fetch "$name")
		if [ -n "${2:-}" ]; then
			mkdir -p "$2"
			cp "$t" "$2/"
			echo "$2/$(basename "$t")"
		else
			echo "$t"
		fi
	done
	;;
env)
	p=$(prefix)
	printf 'export MAGICK_PREFIX=%q\n' "$p"
	printf 'export PKG_CONFIG_PATH=%q\n' "$p/lib/pkgconfig"
	printf 'export CGO_LDFLAGS=%q\n' "-Wl,-rpath,$p/lib"
	printf 'export PATH=%q\n' "$p/bin:$PATH"
	;;
layer) echo "$(prefix).layer" ;;
jxl-tools) jxl_tools ;;
*)
	echo "usage: $0 prefix|build|fetch [DIR]|env|layer|jxl-tools" >&2
	exit 2
	;;
esac
