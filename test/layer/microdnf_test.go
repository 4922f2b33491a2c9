package layer_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// The runtime image public.ecr.aws/lambda/provided:al2023 is AL2023-minimal: its package
// manager is microdnf (dnf is a link to it), which accepts a subset of dnf's options. The
// grammar below is microdnf 3.10's, from rpm-software-management/microdnf dnf/dnf-main.c
// (global options) and its plugins (commands).
var (
	microdnfFlags = []string{"-y", "--assumeyes", "--assumeno", "--best", "--nobest", "--nodocs", "--noplugins", "--refresh"}
	// Options that take a value, as --opt=value or --opt value.
	microdnfValueOptions = []string{"--config", "--disablerepo", "--enablerepo", "--disableplugin", "--enableplugin", "--installroot", "--releasever", "--setopt"}
	microdnfCommands     = []string{"install", "remove", "reinstall", "upgrade", "update", "clean", "download", "makecache",
		"repolist", "repoquery", "distro-sync", "leaves", "swap", "module"}
	// --setopt keys microdnf handles; the booleans take only 0 or 1 ("Invalid boolean value").
	microdnfSetoptBooleans = []string{"install_weak_deps", "allow_vendor_change", "keepcache"}
	microdnfSetoptStrings  = []string{"tsflags", "module_platform_id", "cachedir", "reposdir", "varsdir"}
)

// al2023Packages are package names known to exist in Amazon Linux 2023's repositories,
// each with where that is documented. A package not listed here must be checked and added
// before the Dockerfile installs it.
var al2023Packages = map[string]string{
	// ../shared/FACTS.md, "AL2023 package names" (from public sources).
	"gcc": "FACTS", "gcc-c++": "FACTS", "make": "FACTS", "pkgconf-pkg-config": "FACTS", "tar": "FACTS",
	"xz": "FACTS", "gzip": "FACTS", "findutils": "FACTS", "binutils": "FACTS", "libjpeg-turbo-devel": "FACTS",
	"libpng-devel": "FACTS", "libwebp-devel": "FACTS", "libtiff-devel": "FACTS", "lcms2-devel": "FACTS",
	"zlib-devel": "FACTS", "freetype-devel": "FACTS", "libxml2-devel": "FACTS", "giflib-devel": "FACTS",
	"patchelf": "FACTS",
	// An AL2023 build script's amazon_linux_2023_dependencies (dnf install cmake ninja-build nasm ...).
	"cmake": "AL2023 build script", "ninja-build": "AL2023 build script", "nasm": "AL2023 build script",
	// amazonlinux/amazon-linux-2023 issue #800: AL2023 ships meson 0.63.3 (dav1d needs >= 0.49).
	"meson": "amazon-linux-2023#800",
	// "brotli-devel - sudo dnf install -y brotli-devel (AL2023 only)" in a project's install notes.
	"brotli-devel": "AL2023 install notes",
	// AL2023 core packages: the minimal image's curl is curl-minimal; grep, gawk and diffutils
	// are in every AL2023 image that is not minimal.
	"curl-minimal": "AL2023 core", "grep": "AL2023 core", "gawk": "AL2023 core", "diffutils": "AL2023 core",
}

// shellCommands splits a RUN's shell text into simple commands, each with the condition of
// the if-branch it is in ("" outside one). Enough for the Dockerfile's own style: commands
// joined by && || ; | and newlines, { } groups, one level of if/then/fi.
func shellCommands(run string) (cmds [][]string, conds []string) {
	sep := regexp.MustCompile(`&&|\|\||;|\||\n`)
	cond := ""
	for _, seg := range sep.Split(run, -1) {
		words := strings.Fields(seg)
		for len(words) > 0 && slices.Contains([]string{"{", "}", "(", ")", "then", "else", "do"}, words[0]) {
			words = words[1:]
		}
		switch {
		case len(words) == 0:
			continue
		case words[0] == "if":
			cond = strings.Join(words[1:], " ")
			continue
		case words[0] == "fi":
			cond = ""
			continue
		}
		cmds = append(cmds, words)
		conds = append(conds, cond)
	}
	return cmds, conds
}

// checkPackageManager checks every package-manager command of a stage built on the runtime
// image against microdnf's grammar and Amazon Linux 2023's package names.
func checkPackageManager(s *instructions.Stage) []string {
	var problems []string
	for _, c := range s.Commands {
		r, ok := c.(*instructions.RunCommand)
		if !ok {
			continue
		}
		cmds, conds := shellCommands(runText(r))
		for i, words := range cmds {
			for _, p := range checkMicrodnf(words, conds[i]) {
				problems = append(problems, fmt.Sprintf("line %d (stage %s): %s", line(r), s.Name, p))
			}
		}
	}
	return problems
}

func checkMicrodnf(words []string, cond string) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch words[0] {
	case "microdnf":
	case "dnf", "dnf5", "yum":
		// It runs microdnf all the same: say so, and check it as such.
		bad("%q: call microdnf by name: the runtime image is AL2023-minimal, whose %s is microdnf with a narrower syntax", strings.Join(words, " "), words[0])
	default:
		return nil
	}
	var command string
	var args []string
	for i := 1; i < len(words); i++ {
		w := words[i]
		if !strings.HasPrefix(w, "-") {
			if command == "" {
				command = w
			} else {
				args = append(args, w)
			}
			continue
		}
		name, value, hasValue := strings.Cut(w, "=")
		switch {
		case slices.Contains(microdnfFlags, w):
		case slices.Contains(microdnfValueOptions, name):
			if !hasValue && i+1 < len(words) {
				i++
				value = words[i]
			}
			if name == "--setopt" {
				problems = append(problems, checkSetopt(value)...)
			}
		default:
			bad("option %q: microdnf has no such option", w)
		}
	}
	switch {
	case command == "":
		bad("microdnf without a command")
	case !slices.Contains(microdnfCommands, command):
		bad("microdnf has no command %q", command)
	case command == "clean" && !slices.Equal(args, []string{"all"}):
		bad("microdnf clean takes only \"all\", got %q", args)
	case command == "install":
		for _, p := range args {
			if _, ok := al2023Packages[p]; !ok {
				bad("package %q is not a known Amazon Linux 2023 package (test/layer/microdnf_test.go lists them with their sources)", p)
			}
			if p == "nasm" && !(strings.Contains(cond, "TARGETARCH") && strings.Contains(cond, "amd64")) {
				bad("nasm outside an amd64-only branch: only x86_64 assembles with it (dav1d, libaom)")
			}
		}
	}
	return problems
}

func checkSetopt(kv string) []string {
	key, value, ok := strings.Cut(kv, "=")
	switch {
	case !ok:
		return []string{fmt.Sprintf("--setopt=%s: microdnf needs key=value", kv)}
	case slices.Contains(microdnfSetoptBooleans, key):
		if value != "0" && value != "1" {
			return []string{fmt.Sprintf("--setopt=%s: microdnf takes 0 or 1 for booleans (it exits with Invalid boolean value)", kv)}
		}
	case key == "tsflags":
		for f := range strings.SplitSeq(value, ",") {
			if f != "nodocs" && f != "test" {
				return []string{fmt.Sprintf("--setopt=%s: microdnf knows the tsflags nodocs and test only", kv)}
			}
		}
	case slices.Contains(microdnfSetoptStrings, key), strings.Contains(key, "."):
	default:
		return []string{fmt.Sprintf("--setopt=%s: microdnf cannot set %s (Unable to handle)", kv, key)}
	}
	return nil
}
