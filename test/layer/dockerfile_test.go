// Package layer_test keeps the ImageMagick layer honest where Docker cannot run: the
// Dockerfile must build what the local build builds (same pins, scripts, flags and policy),
// from sources a clean clone can reach, with package-manager commands Amazon Linux 2023's
// microdnf accepts; and the locally built stack must work and enforce the project's policy.
package layer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
)

// layerDir is the layer's directory relative to the repository root, which is the Docker
// build context.
const layerDir = "layers/imagemagick"

// repoRoot is two levels up from this package's directory (test/layer).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, layerDir, "Dockerfile")); err != nil {
		t.Fatalf("expected the repository root at %s: %v", root, err)
	}
	return root
}

func readFile(t *testing.T, root, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inputs are the files the Dockerfile check compares; tests mutate copies of them.
type inputs struct {
	dockerfile, dockerignore, versions, goMod, native []byte
	// inClone reports whether a path relative to the build context is in a clean clone:
	// a file git tracks, or a directory holding one.
	inClone func(string) bool
}

func repoInputs(t *testing.T) inputs {
	root := repoRoot(t)
	return inputs{
		dockerfile:   readFile(t, root, layerDir+"/Dockerfile"),
		dockerignore: readFile(t, root, layerDir+"/Dockerfile.dockerignore"),
		versions:     readFile(t, root, layerDir+"/versions.env"),
		goMod:        readFile(t, root, "function/go.mod"),
		native:       readFile(t, root, layerDir+"/native.sh"),
		inClone:      cleanClone(t, root),
	}
}

// cleanClone lists what `git clone` would check out: git's tracked files, not the
// working tree, which may hold git-ignored tarballs in layers/imagemagick/src/.
func cleanClone(t *testing.T, root string) func(string) bool {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files (the test needs the repository's git checkout to know what a clean clone holds): %v", err)
	}
	tracked := map[string]bool{}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		tracked[f] = true
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			tracked[d] = true
		}
	}
	return func(p string) bool { return tracked[path.Clean(p)] }
}

// parseEnv reads KEY=VALUE lines, ignoring comments and blank lines.
func parseEnv(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// sourceNames are the NAMEs of versions.env's NAME_TARBALL pins, in order.
func sourceNames(pins []byte) []string {
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^([A-Z0-9]+)_TARBALL=`).FindAllSubmatch(pins, -1) {
		names = append(names, string(m[1]))
	}
	return names
}

// nativeSteps are native.sh's steps in the order it runs them by default.
func nativeSteps(native []byte) []string {
	m := regexp.MustCompile(`(?m)^\[ "\$#" -gt 0 \] \|\| set -- (.+)$`).FindSubmatch(native)
	if m == nil {
		return nil
	}
	return strings.Fields(string(m[1]))
}

// offlineImages stands in for a registry: every base image is an empty linux image of the
// requested platform, so the linter runs without a network.
type offlineImages struct{}

func (offlineImages) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	arch := "amd64"
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		arch = opt.ImageOpt.Platform.Architecture
	}
	cfg, err := json.Marshal(map[string]any{"os": "linux", "architecture": arch, "config": map[string]any{}})
	return ref, "", cfg, err
}

// lint runs BuildKit's Dockerfile checks (what `docker build --check` reports) and returns
// one line per warning.
func lint(dockerfile []byte) ([]string, error) {
	res, err := dockerfile2llb.DockerfileLint(context.Background(), dockerfile, dockerfile2llb.ConvertOpt{
		SourceMap:    &llb.SourceMap{Filename: "Dockerfile", Data: dockerfile, Definition: &llb.Definition{}},
		MetaResolver: offlineImages{},
		Config:       dockerui.Config{BuildArgs: map[string]string{}},
	})
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, w := range res.Warnings {
		line := 0
		if r := w.Location.GetRanges(); len(r) > 0 {
			line = int(r[0].GetStart().GetLine())
		}
		warnings = append(warnings, linter.LintFormatShort(w.RuleName, w.Detail, line))
	}
	return warnings, nil
}

func line(c instructions.Command) int {
	if loc := c.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}

func runText(r *instructions.RunCommand) string { return strings.Join(r.CmdLine, " ") }

// declared is every ARG a list of commands declares.
func declared(cmds []instructions.Command) map[string]bool {
	m := map[string]bool{}
	for _, c := range cmds {
		if a, ok := c.(*instructions.ArgCommand); ok {
			for _, kv := range a.Args {
				m[kv.Key] = true
			}
		}
	}
	return m
}

var goDirective = regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`)

// Stages other parts of the project name: the CDK copies layer and function, CI builds
// verify and function-verify.
var requiredStages = []string{"sources", "builder", "verify", "layer", "function-build", "function-verify", "function"}

// checkDockerfile returns every way in which the Dockerfile would fail, drift from the local
// build, or depend on what a clean clone lacks.
func checkDockerfile(in inputs) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	ast, err := parser.Parse(bytes.NewReader(in.dockerfile))
	if err != nil {
		return []string{"Dockerfile does not parse: " + err.Error()}
	}
	var lintWarnings []string
	stages, metaArgs, err := instructions.Parse(ast.AST, linter.New(&linter.Config{
		Warn: func(rule, _, _, msg string, loc []parser.Range) {
			lintWarnings = append(lintWarnings, fmt.Sprintf("%s: %s (line %d)", rule, msg, loc[0].Start.Line))
		},
	}))
	if err != nil {
		return []string{"Dockerfile instructions: " + err.Error()}
	}
	full, err := lint(in.dockerfile)
	if err != nil {
		bad("BuildKit's linter: %v", err)
	}
	for _, w := range slices.Compact(slices.Sorted(slices.Values(append(lintWarnings, full...)))) {
		bad("BuildKit lint: %s", w)
	}

	byName := map[string]*instructions.Stage{}
	for i := range stages {
		byName[stages[i].Name] = &stages[i]
	}
	for _, name := range requiredStages {
		if byName[name] == nil {
			bad("expected a stage named %q", name)
		}
	}
	for _, name := range []string{"layer", "function"} {
		s := byName[name]
		if s == nil {
			continue
		}
		if s.BaseName == "scratch" {
			bad("stage %q must not be FROM scratch: the CDK copies files out of a created container", name)
		}
		if !slices.ContainsFunc(s.Commands, func(c instructions.Command) bool { _, ok := c.(*instructions.CmdCommand); return ok }) {
			bad("stage %q needs a CMD for docker create", name)
		}
	}
	// The layer is only as good as its check: it must take /opt from the verify stage.
	if s := byName["layer"]; s != nil && !slices.ContainsFunc(s.Commands, func(c instructions.Command) bool {
		cp, ok := c.(*instructions.CopyCommand)
		return ok && cp.From == "verify" && slices.Equal(cp.SourcePaths, []string{"/opt"}) && cp.DestPath == "/opt"
	}) {
		bad("stage layer must COPY --from=verify /opt /opt, so that verification cannot be skipped")
	}

	globals := map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				globals[kv.Key] = *kv.Value
			}
		}
	}
	problems = append(problems, checkPins(globals, in.versions)...)
	// A fresh clone must find every source: a default URL, or a tracked file in src/.
	defaults := maps.Clone(globals)
	for _, s := range stages {
		for _, c := range s.Commands {
			if a, ok := c.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					if _, seen := defaults[kv.Key]; !seen && kv.Value != nil {
						defaults[kv.Key] = *kv.Value
					}
				}
			}
		}
	}
	for _, name := range sourceNames(in.versions) {
		if defaults[name+"_URL"] == "" && !in.inClone(layerDir+"/src/"+defaults[name+"_TARBALL"]) {
			bad("source %s has no default URL and no %s/src/%s in a clean clone: a fresh clone cannot build the layer", name, layerDir, defaults[name+"_TARBALL"])
		}
	}
	problems = append(problems, checkSourcesStage(byName["sources"], globals, in)...)
	problems = append(problems, checkBuilder(byName["builder"], in)...)
	for i := range stages {
		problems = append(problems, checkStageArgs(&stages[i], globals)...)
		if strings.Contains(stages[i].BaseName, "BASE_IMAGE") {
			problems = append(problems, checkPackageManager(&stages[i])...)
		}
	}

	// Go: the function target builds with the release function/go.mod asks for.
	m := goDirective.FindSubmatch(in.goMod)
	goVersion := globals["GO_VERSION"]
	switch {
	case m == nil:
		bad("function/go.mod has no go directive")
	case goVersion == "":
		bad("the Dockerfile has no global ARG GO_VERSION")
	case goVersion != string(m[1]) && !strings.HasPrefix(goVersion, string(m[1])+"."):
		bad("ARG GO_VERSION=%s does not match function/go.mod's go %s", goVersion, m[1])
	}

	// Every file copied from the context is in a clean clone and survives
	// Dockerfile.dockerignore.
	patterns, err := ignorefile.ReadAll(bytes.NewReader(in.dockerignore))
	if err != nil {
		return append(problems, "Dockerfile.dockerignore: "+err.Error())
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return append(problems, "Dockerfile.dockerignore: "+err.Error())
	}
	for _, s := range stages {
		for _, c := range s.Commands {
			cp, ok := c.(*instructions.CopyCommand)
			if !ok || cp.From != "" {
				continue
			}
			for _, src := range cp.SourcePaths {
				// A glob (go.sum*) may match nothing; a plain path must be there.
				probe := strings.TrimSuffix(strings.TrimRight(src, "*"), "/")
				if !in.inClone(probe) {
					if !strings.ContainsAny(src, "*?[") {
						bad("line %d: COPY %s: not in a clean clone (git does not track it)", line(cp), src)
					}
					continue
				}
				if strings.HasSuffix(src, "/") {
					probe += "/.gitignore" // a file each copied directory has
				}
				if ignored, _ := pm.MatchesOrParentMatches(probe); ignored {
					bad("line %d: COPY %s is excluded by Dockerfile.dockerignore", line(cp), src)
				}
			}
		}
	}
	return problems
}

// checkPins: every pin of versions.env is a global ARG default, and the reverse.
func checkPins(globals map[string]string, versions []byte) []string {
	var problems []string
	pins := parseEnv(versions)
	for k, v := range pins {
		if k == "DEBIAN_SUITE" {
			continue // local.sh only: where the Debian tarballs come from
		}
		switch got, ok := globals[k]; {
		case !ok:
			problems = append(problems, fmt.Sprintf("versions.env pins %s=%s but the Dockerfile has no global ARG %s", k, v, k))
		case got != v:
			problems = append(problems, fmt.Sprintf("ARG %s defaults to %q in the Dockerfile but versions.env pins %q", k, got, v))
		}
	}
	pinned := regexp.MustCompile(`_(TARBALL|SHA256|URL|VERSION)$`)
	for k, v := range globals {
		if _, ok := pins[k]; !ok && k != "GO_VERSION" && pinned.MatchString(k) {
			problems = append(problems, fmt.Sprintf("the Dockerfile pins ARG %s=%s, which versions.env lacks", k, v))
		}
	}
	return problems
}

// checkSourcesStage: one stage fetches and checks every source before anything compiles,
// and every source can be had in a clean clone (a URL, or a tracked file in src/).
func checkSourcesStage(s *instructions.Stage, globals map[string]string, in inputs) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if s == nil {
		return nil
	}
	args := declared(s.Commands)
	names := sourceNames(in.versions)
	for _, name := range names {
		for _, suffix := range []string{"_TARBALL", "_SHA256", "_URL", "_URL_SHA256"} {
			if !args[name+suffix] {
				bad("stage sources does not declare ARG %s%s: a build arg of that name would not reach fetch.sh", name, suffix)
			}
		}
	}
	fetched := false
	for _, c := range s.Commands {
		r, ok := c.(*instructions.RunCommand)
		if !ok {
			continue
		}
		if regexp.MustCompile(`fetch\.sh /sources\s*$`).MatchString(runText(r)) {
			fetched = true
		}
		if strings.Contains(runText(r), "native.sh") {
			bad("line %d: stage sources compiles; it must only fetch", line(r))
		}
	}
	if !fetched {
		bad("stage sources must end a RUN with `fetch.sh /sources` (every source, checked)")
	}
	return problems
}

// checkBuilder: the builder takes its sources from the sources stage, then runs each of
// native.sh's steps from the directory where the scripts, flags and policy are.
func checkBuilder(s *instructions.Stage, in inputs) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if s == nil {
		return nil
	}
	shared := []string{"native.sh", "heif.sh", "jpegli.sh", "build.sh", "configure.flags", "policy.xml", "verify.sh", "collect-libs.sh"}
	copiedTo := map[string]string{}
	workdir, haveSources := "", false
	var steps []string
	for _, c := range s.Commands {
		switch c := c.(type) {
		case *instructions.WorkdirCommand:
			workdir = c.Path
		case *instructions.CopyCommand:
			if c.From == "sources" && slices.Contains(c.SourcePaths, "/sources/") {
				haveSources = true
			}
			if c.From != "" {
				continue
			}
			for _, src := range c.SourcePaths {
				if dir, file := path.Split(src); path.Clean(dir) == layerDir {
					copiedTo[file] = path.Clean(c.DestPath)
				}
			}
		case *instructions.RunCommand:
			run := runText(c)
			for _, forbidden := range []string{"./configure", "--with-quantum", "--enable-hdri", "--disable-hdri", "--with-security-policy", "policy.xml", "curl ", "wget "} {
				if strings.Contains(run, forbidden) {
					bad("line %d: RUN mentions %q: flags and policy belong in configure.flags and policy.xml, downloads in the sources stage", line(c), forbidden)
				}
			}
			for _, m := range regexp.MustCompile(`\./native\.sh /opt /sources (\w+)`).FindAllStringSubmatch(run, -1) {
				if !haveSources {
					bad("line %d: native.sh %s runs before the builder has the sources stage's /sources", line(c), m[1])
				}
				if workdir == "" || copiedTo["native.sh"] != path.Clean(workdir) {
					bad("line %d: native.sh %s runs from %q, but native.sh is copied to %q", line(c), m[1], workdir, copiedTo["native.sh"])
				}
				steps = append(steps, m[1])
			}
		}
	}
	for _, f := range shared {
		switch dest, ok := copiedTo[f]; {
		case !ok:
			bad("the builder stage does not COPY %s/%s", layerDir, f)
		case dest != path.Clean(workdir):
			bad("the builder copies %s to %s, not to its WORKDIR %s: the scripts read each other from their own directory", f, dest, workdir)
		}
	}
	if want := nativeSteps(in.native); !slices.Equal(steps, want) {
		bad("the builder runs native.sh steps %v; native.sh has %v, in that order", steps, want)
	}
	return problems
}

// checkStageArgs: a RUN that expands a global ARG must declare it in its stage, or the
// shell sees an empty variable.
func checkStageArgs(s *instructions.Stage, globals map[string]string) []string {
	var problems []string
	args := declared(s.Commands)
	for _, c := range s.Commands {
		r, ok := c.(*instructions.RunCommand)
		if !ok {
			continue
		}
		for _, m := range regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)`).FindAllStringSubmatch(runText(r), -1) {
			if _, global := globals[m[1]]; (global || m[1] == "TARGETARCH") && !args[m[1]] {
				problems = append(problems, fmt.Sprintf("line %d: stage %s uses $%s without declaring ARG %s", line(r), s.Name, m[1], m[1]))
			}
		}
	}
	return problems
}

func TestDockerfileMatchesLocalBuild(t *testing.T) {
	for _, p := range checkDockerfile(repoInputs(t)) {
		t.Error(p)
	}
}

// TestDockerfileCheckCatchesDrift proves the checks above can fail: each mutation is a
// realistic edit that would break the Docker build or make it differ from the local one.
func TestDockerfileCheckCatchesDrift(t *testing.T) {
	base := repoInputs(t)
	pins := parseEnv(base.versions)
	tests := []struct {
		name        string
		dockerfile  func(string) string
		versions    func(string) string
		goMod       func(string) string
		wantProblem string
	}{
		{
			name: "microdnf given dnf's boolean syntax (issue 10)",
			dockerfile: func(s string) string {
				return strings.Replace(s, "--setopt=install_weak_deps=0 \\\n        gcc", "--setopt=install_weak_deps=False \\\n        gcc", 1)
			},
			wantProblem: `install_weak_deps=False: microdnf takes 0 or 1`,
		},
		{
			name:        "dnf instead of microdnf",
			dockerfile:  func(s string) string { return strings.Replace(s, "RUN microdnf install", "RUN dnf install", 1) },
			wantProblem: "call microdnf by name",
		},
		{
			name: "a package Amazon Linux 2023 does not have",
			dockerfile: func(s string) string {
				return strings.Replace(s, "lcms2-devel zlib-devel", "lcms2-devel libheif-devel zlib-devel", 1)
			},
			wantProblem: `package "libheif-devel"`,
		},
		{
			name: "an option microdnf lacks",
			dockerfile: func(s string) string {
				return strings.Replace(s, "RUN microdnf install -y", "RUN microdnf install -y --allowerasing", 1)
			},
			wantProblem: `option "--allowerasing"`,
		},
		{
			name:        "nasm for every architecture",
			dockerfile:  func(s string) string { return strings.Replace(s, "meson ninja-build", "meson nasm ninja-build", 1) },
			wantProblem: "nasm outside",
		},
		{
			name: "a fresh clone has no ImageMagick source (issue 10)",
			dockerfile: func(s string) string {
				return strings.Replace(s, "ARG IMAGEMAGICK_URL="+pins["IMAGEMAGICK_URL"], "ARG IMAGEMAGICK_URL=", 1)
			},
			versions: func(s string) string {
				return strings.Replace(s, "IMAGEMAGICK_URL="+pins["IMAGEMAGICK_URL"], "IMAGEMAGICK_URL=", 1)
			},
			wantProblem: "source IMAGEMAGICK has no default URL",
		},
		{
			name: "a COPY of a git-ignored tarball",
			dockerfile: func(s string) string {
				return strings.Replace(s, "COPY layers/imagemagick/src/ /sources/", "COPY layers/imagemagick/src/"+pins["IMAGEMAGICK_TARBALL"]+" /sources/", 1)
			},
			wantProblem: "not in a clean clone",
		},
		{
			name:        "a build arg that cannot reach fetch.sh",
			dockerfile:  func(s string) string { return strings.Replace(s, " AOM_URL_SHA256\n", "\n", 1) },
			wantProblem: "does not declare ARG AOM_URL_SHA256",
		},
		{
			name:        "compiling before the sources are fetched",
			dockerfile:  func(s string) string { return strings.Replace(s, "COPY --from=sources /sources/ /sources/\n", "", 1) },
			wantProblem: "before the builder has the sources stage's /sources",
		},
		{
			name:        "a native.sh step left out",
			dockerfile:  func(s string) string { return strings.Replace(s, "RUN ./native.sh /opt /sources jpegli\n", "", 1) },
			wantProblem: "native.sh steps",
		},
		{
			name:        "an ARG used where it is not declared",
			dockerfile:  func(s string) string { return strings.Replace(s, "ARG IMAGEMAGICK_VERSION\n", "", 1) },
			wantProblem: "uses $IMAGEMAGICK_VERSION without declaring",
		},
		{
			name:        "lint: inconsistent casing",
			dockerfile:  func(s string) string { return strings.Replace(s, "AS verify", "as verify", 1) },
			wantProblem: "BuildKit lint: FromAsCasing",
		},
		{
			name: "ImageMagick sha256 changed in the Dockerfile only",
			dockerfile: func(s string) string {
				return strings.Replace(s, pins["IMAGEMAGICK_SHA256"], strings.Repeat("0", 64), 1)
			},
			wantProblem: "ARG IMAGEMAGICK_SHA256",
		},
		{
			name:        "version bumped in versions.env only",
			versions:    func(s string) string { return strings.Replace(s, "IMAGEMAGICK_VERSION=", "IMAGEMAGICK_VERSION=9", 1) },
			wantProblem: "IMAGEMAGICK_VERSION",
		},
		{
			name:        "new pin in versions.env the Dockerfile lacks",
			versions:    func(s string) string { return s + "LIBFOO_TARBALL=libfoo_1.0.orig.tar.gz\n" },
			wantProblem: "no global ARG LIBFOO_TARBALL",
		},
		{
			name:        "policy.xml not copied",
			dockerfile:  func(s string) string { return strings.Replace(s, "layers/imagemagick/policy.xml ", "", 1) },
			wantProblem: "does not COPY layers/imagemagick/policy.xml",
		},
		{
			name: "flags given on the command line",
			dockerfile: func(s string) string {
				return strings.Replace(s, "./native.sh /opt /sources magick", "./native.sh /opt /sources magick --with-quantum-depth=8", 1)
			},
			wantProblem: "--with-quantum",
		},
		{
			name: "layer skips verification",
			dockerfile: func(s string) string {
				return strings.Replace(s, "COPY --from=verify /opt /opt", "COPY --from=builder /layer/opt /opt", 1)
			},
			wantProblem: "COPY --from=verify",
		},
		{
			name:        "Go release differs from go.mod",
			goMod:       func(s string) string { return goDirective.ReplaceAllString(s, "go 1.99") },
			wantProblem: "GO_VERSION",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			apply := func(b []byte, f func(string) string) []byte {
				if f == nil {
					return b
				}
				out := f(string(b))
				if out == string(b) {
					t.Fatalf("mutation %q changed nothing: the test no longer matches the file", tt.name)
				}
				return []byte(out)
			}
			in.dockerfile = apply(in.dockerfile, tt.dockerfile)
			in.versions = apply(in.versions, tt.versions)
			in.goMod = apply(in.goMod, tt.goMod)
			problems := checkDockerfile(in)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.wantProblem) }) {
				t.Errorf("expected a problem mentioning %q, got %q", tt.wantProblem, problems)
			}
		})
	}
}

// TestLocalBuildUsesSharedFiles checks the other half: local.sh runs the same native.sh
// (through fetch.sh, as the Dockerfile does), and its cache key covers every file that
// decides what the build holds, so an edit cannot reuse a stale build.
func TestLocalBuildUsesSharedFiles(t *testing.T) {
	root := repoRoot(t)
	local := string(readFile(t, root, layerDir+"/local.sh"))
	m := regexp.MustCompile(`(?m)^build_inputs=\(([^)]*)\)`).FindStringSubmatch(local)
	if m == nil {
		t.Fatal("expected local.sh to list its cache key's files as build_inputs=(...)")
	}
	keyed := strings.Fields(m[1])
	for _, f := range []string{"versions.env", "fetch.sh", "native.sh", "heif.sh", "jpegli.sh", "build.sh", "configure.flags", "policy.xml"} {
		if !slices.Contains(keyed, f) {
			t.Errorf("expected local.sh's cache key (build_inputs) to cover %s, got %v", f, keyed)
		}
	}
	for _, want := range []string{`"$here/native.sh" "$pfx" "$pfx.sources"`, `"$here/fetch.sh" "$dir"`, `"$here/collect-libs.sh"`, `isolated_verify "$pfx" "$layer"`} {
		if !strings.Contains(local, want) {
			t.Errorf("expected local.sh to run %s", want)
		}
	}
}
