// Package layer_test keeps the ImageMagick layer honest where Docker cannot run: the
// Dockerfile must build what the local build builds (same pins, flags, build script and
// policy), and the locally built ImageMagick must enforce the project's policy.
package layer_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// layerDir is the layer's directory relative to the repository root, which is the Docker
// build context.
const layerDir = "layers/imagemagick"

// sharedFiles are the files that decide what gets built; local.sh and the Dockerfile must
// both hand exactly these to build.sh, which reads them from its own directory.
var sharedFiles = []string{"build.sh", "configure.flags", "policy.xml", "versions.env"}

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
	dockerfile, dockerignore, versions, goMod []byte
	// exists reports whether a path relative to the build context is in the repository.
	exists func(string) bool
}

func repoInputs(t *testing.T) inputs {
	root := repoRoot(t)
	return inputs{
		dockerfile:   readFile(t, root, layerDir+"/Dockerfile"),
		dockerignore: readFile(t, root, layerDir+"/Dockerfile.dockerignore"),
		versions:     readFile(t, root, layerDir+"/versions.env"),
		goMod:        readFile(t, root, "function/go.mod"),
		exists: func(p string) bool {
			_, err := os.Stat(filepath.Join(root, p))
			return err == nil
		},
	}
}

// instruction is one Dockerfile instruction of a stage.
type instruction struct {
	cmd   string   // lower case: "arg", "copy", "run", ...
	args  []string // words after the command; a RUN's shell command is one word
	flags []string // e.g. "--from=builder"
	line  int
}

type stage struct {
	name, base string
	body       []instruction
}

func (s stage) flag(in instruction, name string) string {
	for _, f := range in.flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// parseDockerfile splits a Dockerfile into its global ARGs and its stages.
func parseDockerfile(src []byte) (globals []instruction, stages []stage, err error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, nil, err
	}
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags, line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		switch {
		case in.cmd == "from":
			st := stage{base: in.args[0]}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "as") {
				st.name = in.args[2]
			}
			stages = append(stages, st)
		case len(stages) == 0:
			globals = append(globals, in)
		default:
			stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
		}
	}
	return globals, stages, nil
}

// argDefaults maps each ARG name to its default ("" when it has none), for one list of
// instructions.
func argDefaults(ins []instruction) map[string]string {
	m := map[string]string{}
	for _, in := range ins {
		if in.cmd != "arg" {
			continue
		}
		for _, a := range in.args {
			name, def, _ := strings.Cut(a, "=")
			m[name] = def
		}
	}
	return m
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

var goDirective = regexp.MustCompile(`(?m)^go (\d+\.\d+(?:\.\d+)?)\s*$`)

// checkDockerfile returns every way in which the Dockerfile drifts from the local build.
func checkDockerfile(in inputs) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	globals, stages, err := parseDockerfile(in.dockerfile)
	if err != nil {
		return []string{"Dockerfile does not parse: " + err.Error()}
	}
	byName := map[string]stage{}
	for _, s := range stages {
		byName[s.name] = s
	}

	// The stages the CDK app and the README rely on.
	for _, name := range []string{"builder", "verify", "layer", "function"} {
		if _, ok := byName[name]; !ok {
			bad("expected a stage named %q", name)
		}
	}
	for _, name := range []string{"layer", "function"} {
		s, ok := byName[name]
		if !ok {
			continue
		}
		if s.base == "scratch" {
			bad("stage %q must not be FROM scratch: the CDK copies files out of a created container", name)
		}
		if !slices.ContainsFunc(s.body, func(i instruction) bool { return i.cmd == "cmd" }) {
			bad("stage %q needs a CMD for docker create", name)
		}
	}
	// The layer is only as good as its check: it must take /opt from the verify stage.
	if s, ok := byName["layer"]; ok {
		if !slices.ContainsFunc(s.body, func(i instruction) bool {
			return i.cmd == "copy" && s.flag(i, "from") == "verify" && slices.Equal(i.args, []string{"/opt", "/opt"})
		}) {
			bad("stage layer must COPY --from=verify /opt /opt, so that verification cannot be skipped")
		}
	}

	// Pins: every ARG default of the builder equals versions.env, in both directions.
	pins := parseEnv(in.versions)
	builder := byName["builder"]
	args := argDefaults(builder.body)
	for k, v := range pins {
		if k == "DEBIAN_SUITE" {
			continue // local.sh only: where the Debian tarballs are fetched from
		}
		got, ok := args[k]
		switch {
		case !ok:
			bad("versions.env pins %s=%s but the builder stage has no ARG %s", k, v, k)
		case got != v:
			bad("ARG %s defaults to %q in the Dockerfile but versions.env pins %q", k, got, v)
		}
	}
	for k, v := range args {
		if strings.HasSuffix(k, "_TARBALL") || strings.HasSuffix(k, "_SHA256") || strings.HasSuffix(k, "_VERSION") {
			if _, ok := pins[k]; !ok {
				bad("the Dockerfile pins ARG %s=%s, which versions.env lacks", k, v)
			}
		}
	}

	// The shared files land in one directory, and build.sh runs from there for /opt.
	dest := ""
	copied := map[string]bool{}
	for _, i := range builder.body {
		if i.cmd != "copy" || builder.flag(i, "from") != "" || len(i.args) < 2 {
			continue
		}
		to := i.args[len(i.args)-1]
		for _, src := range i.args[:len(i.args)-1] {
			dir, file := path.Split(src)
			if path.Clean(dir) == layerDir && slices.Contains(sharedFiles, file) {
				copied[file] = true
				if dest != "" && dest != to {
					bad("line %d: %s is copied to %s, the other shared files to %s: build.sh reads them from its own directory", i.line, src, to, dest)
				}
				dest = to
			}
			if !in.exists(src) && !strings.HasPrefix(src, layerDir+"/src") {
				bad("line %d: COPY source %s does not exist in the repository", i.line, src)
			}
		}
	}
	for _, f := range sharedFiles {
		if !copied[f] {
			bad("the builder stage does not COPY %s/%s", layerDir, f)
		}
	}
	workdir := ""
	ranBuild := false
	for _, i := range builder.body {
		switch i.cmd {
		case "workdir":
			workdir = i.args[0]
		case "run":
			run := strings.Join(i.args, " ")
			if strings.Contains(run, "./build.sh /opt ") && path.Clean(workdir) == path.Clean(dest) {
				ranBuild = true
			}
			// Configure flags or a policy given anywhere but the shared files would drift.
			for _, forbidden := range []string{"./configure", "--with-quantum", "--enable-hdri", "--disable-hdri", "--with-security-policy", "policy.xml"} {
				if strings.Contains(run, forbidden) {
					bad("line %d: RUN mentions %q: configure flags and the policy belong in configure.flags and policy.xml", i.line, forbidden)
				}
			}
		}
	}
	if !ranBuild {
		bad("the builder stage never runs ./build.sh /opt from %q, where the shared files are", dest)
	}

	// Go: the function target builds with the release function/go.mod asks for.
	m := goDirective.FindSubmatch(in.goMod)
	goVersion := argDefaults(globals)["GO_VERSION"]
	switch {
	case m == nil:
		bad("function/go.mod has no go directive")
	case goVersion == "":
		bad("the Dockerfile has no global ARG GO_VERSION")
	case goVersion != string(m[1]) && !strings.HasPrefix(goVersion, string(m[1])+"."):
		bad("ARG GO_VERSION=%s does not match function/go.mod's go %s", goVersion, m[1])
	}

	// Every file copied from the context survives Dockerfile.dockerignore.
	patterns, err := ignorefile.ReadAll(bytes.NewReader(in.dockerignore))
	if err != nil {
		return append(problems, "Dockerfile.dockerignore: "+err.Error())
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return append(problems, "Dockerfile.dockerignore: "+err.Error())
	}
	for _, s := range stages {
		for _, i := range s.body {
			if i.cmd != "copy" || s.flag(i, "from") != "" {
				continue
			}
			for _, src := range i.args[:len(i.args)-1] {
				probe := strings.TrimSuffix(src, "*")
				if strings.HasSuffix(src, "/") {
					probe += ".gitignore" // a file that is in each copied directory
				}
				if ignored, _ := pm.MatchesOrParentMatches(probe); ignored {
					bad("line %d: COPY %s is excluded by Dockerfile.dockerignore", i.line, src)
				}
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

// TestDockerfileCheckCatchesDrift proves the check above can fail: each mutation is a
// realistic edit that would make the layer differ from the local build.
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
			wantProblem: "no ARG LIBFOO_TARBALL",
		},
		{
			name:        "policy.xml not copied",
			dockerfile:  func(s string) string { return strings.Replace(s, "layers/imagemagick/policy.xml ", "", 1) },
			wantProblem: "does not COPY layers/imagemagick/policy.xml",
		},
		{
			name: "flags given on the command line",
			dockerfile: func(s string) string {
				return strings.Replace(s, "./build.sh /opt", "./build.sh /opt --with-quantum-depth=8", 1)
			},
			wantProblem: "--with-quantum",
		},
		{
			name:        "build script not run",
			dockerfile:  func(s string) string { return strings.Replace(s, "./build.sh /opt", "./other.sh /opt", 1) },
			wantProblem: "never runs ./build.sh",
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

// TestLocalBuildUsesSharedFiles checks the other half: local.sh hands build.sh the same
// files, and its cache key covers every one of them, so an edit cannot reuse a stale build.
func TestLocalBuildUsesSharedFiles(t *testing.T) {
	root := repoRoot(t)
	local := string(readFile(t, root, layerDir+"/local.sh"))
	build := string(readFile(t, root, layerDir+"/build.sh"))
	checks := []struct {
		text, want, why string
	}{
		{local, `"$here/build.sh" "$pfx"`, "local.sh runs the shared build.sh"},
		{local, `. "$here/versions.env"`, "local.sh reads the shared pins"},
		{local, "cat configure.flags build.sh policy.xml", "the cache key covers the flags, the build script and the policy"},
		{local, "grep '^IMAGEMAGICK_' versions.env", "the cache key covers ImageMagick's pins"},
		{build, `"$here/configure.flags"`, "build.sh reads configure.flags next to itself"},
		{build, `"$here/policy.xml"`, "build.sh installs policy.xml next to itself"},
	}
	for _, c := range checks {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("expected %s (%q)", c.why, c.want)
		}
	}
}
