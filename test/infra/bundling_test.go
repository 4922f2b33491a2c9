package infra_test

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/s3-image-compressor/s3-image-compressor/infra/compressor"
	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

const layerDockerfile = "layers/imagemagick/Dockerfile"

// freshClone copies what `git clone` checks out (git's tracked files, as they are in the
// working tree) into a new directory: no layers/imagemagick/src/ tarballs, nothing apt
// fetched. It is the build context a new user's `cdk deploy` hands Docker.
func freshClone(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dir := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src, dst := filepath.Join(repoRoot, f), filepath.Join(dir, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or a symlink: not a build input here
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := copyFile(src, dst, fi.Mode()); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// dockerCall is one recorded `docker build`.
type dockerCall struct {
	file, platform, target, context string
	buildArgs                       map[string]string
}

// dockerCalls reads the fake docker's log: every call, and the builds parsed.
func dockerCalls(t *testing.T) (calls []string, builds []dockerCall) {
	t.Helper()
	doc, err := os.ReadFile(os.Getenv("FAKE_DOCKER_LOG"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range strings.Split(strings.TrimSpace(string(doc)), "\n") {
		if c == "" {
			continue
		}
		calls = append(calls, c)
		words := strings.Fields(c)
		if words[0] != "build" {
			continue
		}
		b := dockerCall{buildArgs: map[string]string{}, context: words[len(words)-1]}
		for i := 1; i < len(words)-1; i++ {
			switch words[i] {
			case "-f":
				b.file = words[i+1]
			case "--platform":
				b.platform = words[i+1]
			case "--target":
				b.target = words[i+1]
			case "--build-arg":
				k, v, _ := strings.Cut(words[i+1], "=")
				b.buildArgs[k] = v
			}
		}
		builds = append(builds, b)
	}
	return calls, builds
}

func resetDockerLog(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(os.Getenv("FAKE_DOCKER_LOG"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dockerfile reads the Dockerfile with BuildKit's parser: its stages and its global ARG
// defaults.
func dockerfile(t *testing.T, root string) (stages []string, args map[string]string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(root, layerDockerfile))
	if err != nil {
		t.Fatal(err)
	}
	ast, err := parser.Parse(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	st, meta, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		stages = append(stages, s.Name)
	}
	args = map[string]string{}
	for _, a := range meta {
		for _, kv := range a.Args {
			if kv.Value != nil {
				args[kv.Key] = *kv.Value
			}
		}
	}
	return stages, args
}

// bundledStack builds the stack of e as `cdk deploy` would (bundling every stack) from
// buildContext, returning the error NewStack or the CDK reports.
func bundledStack(t *testing.T, e envconfig.Environment, buildContext string, buildArgs map[string]string) (stack awscdk.Stack, err error) {
	t.Helper()
	app := newApp(t, map[string]any{"aws:cdk:bundling-stacks": []any{"**"}})
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return compressor.NewStack(app, compressor.StackName(e.Name), &compressor.StackProps{
		Environment: e, BuildContext: buildContext, DockerBuildArgs: buildArgs,
	})
}

// A deploy bundles: the CDK builds the layer and the function from the Dockerfile's targets
// for the function's architecture, with the context's build args, and copies their
// directories out. Docker cannot run here, so the fake CLI (TestMain) records the
// commands. The context is a fresh clone, so the recorded build must find every source it
// needs through a URL (no layers/imagemagick/src/ tarball exists there).
func TestDeployBundlesWithDocker(t *testing.T) {
	clone := freshClone(t)
	stages, defaults := dockerfile(t, clone)
	buildArgs := map[string]string{
		"IMAGEMAGICK_URL":        "https://mirror.example/ImageMagick-7.1.1-43.tar.gz",
		"IMAGEMAGICK_URL_SHA256": strings.Repeat("ab", 32),
	}
	for _, arch := range []struct{ name, platform string }{{envconfig.ArchARM64, "linux/arm64"}, {envconfig.ArchX86_64, "linux/amd64"}} {
		t.Run(arch.name, func(t *testing.T) {
			resetDockerLog(t)
			e := variant("bundled", func(e *envconfig.Environment) { e.Architecture = arch.name })
			stack, err := bundledStack(t, e, clone, buildArgs)
			if err != nil {
				t.Fatalf("bundled synth from a fresh clone: %v", err)
			}
			if !*stack.BundlingRequired() {
				t.Fatal("BundlingRequired() = false with aws:cdk:bundling-stacks [**]; want true")
			}
			calls, builds := dockerCalls(t)
			if !slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "buildx inspect") }) {
				t.Errorf("expected the app to ask docker buildx inspect for the builder's platforms before building, calls:\n%s", strings.Join(calls, "\n"))
			}
			for _, target := range []struct{ stage, dir string }{{"layer", "/opt/."}, {"function", "/asset/."}} {
				i := slices.IndexFunc(builds, func(b dockerCall) bool { return b.target == target.stage })
				if i < 0 {
					t.Errorf("no docker build of target %s in:\n%s", target.stage, strings.Join(calls, "\n"))
					continue
				}
				b := builds[i]
				if b.platform != arch.platform || b.file != filepath.Join(clone, layerDockerfile) || b.context != clone {
					t.Errorf("target %s: built with --platform %q -f %q in %q; want %q, %q, %q", target.stage, b.platform, b.file, b.context,
						arch.platform, filepath.Join(clone, layerDockerfile), clone)
				}
				for k, v := range buildArgs {
					if b.buildArgs[k] != v {
						t.Errorf("target %s: --build-arg %s=%q, want %q (context dockerBuildArgs)", target.stage, k, b.buildArgs[k], v)
					}
				}
				if !slices.Contains(stages, target.stage) {
					t.Errorf("target %q is not a stage of %s (stages: %v)", target.stage, layerDockerfile, stages)
				}
				if !slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "cp ") && strings.Contains(c, ":"+target.dir+" ") }) {
					t.Errorf("no docker cp of %s (target %s) in:\n%s", target.dir, target.stage, strings.Join(calls, "\n"))
				}
				for _, missing := range missingSources(clone, defaults, b.buildArgs) {
					t.Errorf("target %s: the recorded build has no source for %s", target.stage, missing)
				}
			}
		})
	}
}

// missingSources are the sources a build with these args could neither download nor find
// in the context's layers/imagemagick/src/ (what fetch.sh does).
func missingSources(buildContext string, defaults, buildArgs map[string]string) []string {
	value := func(k string) string {
		if v, ok := buildArgs[k]; ok {
			return v
		}
		return defaults[k]
	}
	var missing []string
	for k := range defaults {
		name, ok := strings.CutSuffix(k, "_TARBALL")
		if !ok || value(name+"_URL") != "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(buildContext, "layers/imagemagick/src", value(k))); err != nil {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	return missing
}

// What would fail minutes into a Docker build, or deep inside it, stops the synth first
// with a message that says what to do, and no docker build runs.
func TestDockerBuildFailsFast(t *testing.T) {
	clone := freshClone(t)
	arm := variant("bundled", func(e *envconfig.Environment) { e.Architecture = envconfig.ArchARM64 })
	tests := []struct {
		name      string
		buildArgs map[string]string
		env       map[string]string
		want      []string
	}{
		{
			name: "arm64 on an x86 builder without emulation",
			env:  map[string]string{"FAKE_DOCKER_PLATFORMS": "linux/amd64, linux/amd64/v2, linux/386"},
			want: []string{"docker cannot build linux/arm64", "docker run --privileged --rm tonistiigi/binfmt --install arm64"},
		},
		{
			name:      "a source with no URL and no file in src/",
			buildArgs: map[string]string{"IMAGEMAGICK_URL": ""},
			want:      []string{"IMAGEMAGICK (no IMAGEMAGICK_URL and no layers/imagemagick/src/", "local.sh fetch layers/imagemagick/src"},
		},
		{
			name:      "a build arg the Dockerfile does not declare",
			buildArgs: map[string]string{"IMAGEMAGIK_URL": "https://example.invalid/x.tar.gz"},
			want:      []string{`docker build arg "IMAGEMAGIK_URL"`, "is not an ARG of layers/imagemagick/Dockerfile"},
		},
		{
			name: "no docker",
			env:  map[string]string{"CDK_DOCKER": filepath.Join(t.TempDir(), "docker")},
			want: []string{"was not found: install Docker"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			resetDockerLog(t)
			_, err := bundledStack(t, arm, clone, tt.buildArgs)
			if err == nil {
				t.Fatalf("expected the bundled synth to fail with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("expected the error to say %q, got: %v", w, err)
				}
			}
			if _, builds := dockerCalls(t); len(builds) > 0 {
				t.Errorf("expected no docker build after the check failed, got %d", len(builds))
			}
		})
	}
}

// The same checks pass for what a source in src/ provides: `local.sh fetch` in a clone.
func TestDockerBuildFindsSourceInSrc(t *testing.T) {
	clone := freshClone(t)
	_, defaults := dockerfile(t, clone)
	tarball := filepath.Join(clone, "layers/imagemagick/src", defaults["IMAGEMAGICK_TARBALL"])
	if err := os.WriteFile(tarball, []byte("stands in for the tarball; fetch.sh checks its sha256"), 0o644); err != nil {
		t.Fatal(err)
	}
	resetDockerLog(t)
	e := variant("bundled", func(e *envconfig.Environment) { e.Architecture = envconfig.ArchX86_64 })
	if _, err := bundledStack(t, e, clone, map[string]string{"IMAGEMAGICK_URL": ""}); err != nil {
		t.Fatalf("expected the synth to accept %s in place of a URL: %v", tarball, err)
	}
	if _, builds := dockerCalls(t); len(builds) != 2 {
		t.Errorf("expected the layer and the function to be built, got %d builds", len(builds))
	}
}

// dockerBuildArgs arrive from cdk.json as an object and from -c as JSON text.
func TestDockerBuildArgsFromContext(t *testing.T) {
	base, err := cdkContext()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"IMAGEMAGICK_URL": "https://mirror.example/im.tar.gz"}
	for _, tt := range []struct {
		name    string
		value   any
		wantErr string
	}{
		{"cdk.json object", map[string]any{"IMAGEMAGICK_URL": "https://mirror.example/im.tar.gz"}, ""},
		{"-c JSON text", `{"IMAGEMAGICK_URL":"https://mirror.example/im.tar.gz"}`, ""},
		{"not an object", `["IMAGEMAGICK_URL"]`, "want an object of names to strings"},
		{"a value that is not a string", map[string]any{"IMAGEMAGICK_URL": 7}, "want an object of names to strings"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := envconfig.FromContext(func(key string) any {
				if key == envconfig.ContextDockerBuildArgs {
					return tt.value
				}
				return base[key]
			})
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "dockerBuildArgs") {
					t.Errorf("expected an error naming dockerBuildArgs and saying %q, got %v", tt.wantErr, err)
				}
			case err != nil:
				t.Errorf("unexpected error: %v", err)
			case !maps.Equal(cfg.DockerBuildArgs, want):
				t.Errorf("DockerBuildArgs = %v, want %v", cfg.DockerBuildArgs, want)
			}
		})
	}
}
