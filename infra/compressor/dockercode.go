package compressor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// The build contract of layers/imagemagick/Dockerfile (see its README.md): the
// context is the repository root, and each target leaves what Lambda needs in
// one directory of its image.
const (
	dockerfile       = "layers/imagemagick/Dockerfile"
	dockerignoreFile = dockerfile + ".dockerignore"
	// Where a source tarball may sit instead of being downloaded (fetch.sh).
	dockerSourcesDir = "layers/imagemagick/src"
)

type dockerTarget struct {
	stage string // --target
	path  string // directory copied out of the image: the asset's root
}

var (
	layerTarget    = dockerTarget{stage: "layer", path: "/opt"}
	functionTarget = dockerTarget{stage: "function", path: "/asset"}
)

// dockerCode is the code asset one target of the Dockerfile produces for arch,
// built with buildArgs (names the Dockerfile declares as ARG).
//
// Before a build it checks what would otherwise fail deep inside Docker: a
// foreign architecture without emulation, and a source with neither a URL nor
// a file in layers/imagemagick/src/.
//
// A stack whose bundling is skipped (skipBundling=true, or a CLI command that
// selects other stacks) must not run Docker: DockerImage.fromBuild builds the
// moment it is called. It gets an asset whose hash is the fingerprint of the
// build context as Docker sees it (the Dockerfile's .dockerignore applied) and
// of the build args, so the template has the same shape and its hash moves
// when a build input does. Such an assembly is for tests and diffs only; it
// must never be deployed.
func dockerCode(scope constructs.Construct, buildContext string, buildArgs map[string]string, target dockerTarget, arch awslambda.Architecture) (awslambda.Code, error) {
	args, err := dockerfileArgs(buildContext)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(buildArgs)) {
		if _, ok := args[name]; !ok {
			return nil, fmt.Errorf("docker build arg %q (context %q) is not an ARG of %s; it declares %s",
				name, "dockerBuildArgs", dockerfile, strings.Join(slices.Sorted(maps.Keys(args)), ", "))
		}
	}
	platform := *arch.DockerPlatform()

	if *awscdk.Stack_Of(scope).BundlingRequired() {
		if err := checkSources(buildContext, args, buildArgs); err != nil {
			return nil, err
		}
		if err := checkPlatform(platform); err != nil {
			return nil, err
		}
		var jsiiArgs *map[string]*string
		if len(buildArgs) > 0 {
			m := make(map[string]*string, len(buildArgs))
			for k, v := range buildArgs {
				m[k] = jsii.String(v)
			}
			jsiiArgs = &m
		}
		return awslambda.Code_FromDockerBuild(jsii.String(buildContext), &awslambda.DockerBuildAssetOptions{
			File:        jsii.String(dockerfile),
			TargetStage: jsii.String(target.stage),
			BuildArgs:   jsiiArgs,
			// Both options need the platform, or an x86 host builds x86 (aws-cdk#30239).
			Platform:  jsii.String(platform),
			ImagePath: jsii.String(target.path),
		}), nil
	}

	ignore, err := dockerignore(buildContext)
	if err != nil {
		return nil, err
	}
	// Docker reads the Dockerfile apart from the context; it is an input all the same.
	ignore = append(ignore, jsii.String("!"+dockerfile), jsii.String("!"+dockerignoreFile))
	// Layer and function share the context; without the stage they would share one asset.
	extra := target.stage + " " + platform
	for _, name := range slices.Sorted(maps.Keys(buildArgs)) {
		extra += " " + name + "=" + buildArgs[name]
	}
	fingerprint := awscdk.FileSystem_Fingerprint(jsii.String(buildContext), &awscdk.FingerprintOptions{
		Exclude:    &ignore,
		IgnoreMode: awscdk.IgnoreMode_DOCKER,
		ExtraHash:  jsii.String(extra),
	})
	return awslambda.Code_FromAsset(jsii.String(buildContext), &awss3assets.AssetOptions{
		AssetHash: fingerprint,
		// Never run: the stack is not bundled. Required so that the CDK records the
		// asset without copying the build context into cdk.out.
		Bundling: &awscdk.BundlingOptions{
			Image:    awscdk.NewDockerImage(jsii.String("cdk-"+*fingerprint), fingerprint),
			Platform: jsii.String(platform),
		},
	}), nil
}

// dockerignore reads the patterns Docker applies to the build context.
func dockerignore(buildContext string) ([]*string, error) {
	doc, err := os.ReadFile(filepath.Join(buildContext, dockerignoreFile))
	if err != nil {
		return nil, fmt.Errorf("docker build context %s: %w", buildContext, err)
	}
	var patterns []*string
	for line := range strings.Lines(string(doc)) {
		if p := strings.TrimSpace(line); p != "" && !strings.HasPrefix(p, "#") {
			patterns = append(patterns, jsii.String(p))
		}
	}
	return patterns, nil
}

var argWord = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$`)

// dockerfileArgs maps every ARG the Dockerfile declares to its default ("" when
// it has none; the global default when a stage redeclares it). It reads ARG
// instructions only, joining continuation lines; test/layer checks the
// Dockerfile with BuildKit's own parser.
func dockerfileArgs(buildContext string) (map[string]string, error) {
	doc, err := os.ReadFile(filepath.Join(buildContext, dockerfile))
	if err != nil {
		return nil, fmt.Errorf("docker build context %s: %w", buildContext, err)
	}
	args := map[string]string{}
	var instruction string
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if instruction == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			instruction += rest + " "
			continue
		}
		instruction += line
		words := strings.Fields(instruction)
		instruction = ""
		if len(words) < 2 || !strings.EqualFold(words[0], "ARG") {
			continue
		}
		for _, w := range words[1:] {
			m := argWord.FindStringSubmatch(w)
			if m == nil {
				return nil, fmt.Errorf("%s: cannot read ARG %q", dockerfile, w)
			}
			if _, seen := args[m[1]]; !seen || m[2] != "" {
				args[m[1]] = m[2]
			}
		}
	}
	return args, sc.Err()
}

// checkSources fails when a source of the layer would have nothing to build
// from: fetch.sh takes NAME_TARBALL from layers/imagemagick/src/ or downloads
// NAME_URL, so a source whose URL is empty needs its file there.
func checkSources(buildContext string, args, buildArgs map[string]string) error {
	value := func(name string) string {
		if v, ok := buildArgs[name]; ok {
			return v
		}
		return args[name]
	}
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(args)) {
		source, ok := strings.CutSuffix(name, "_TARBALL")
		if !ok || value(source+"_URL") != "" {
			continue
		}
		file := filepath.Join(dockerSourcesDir, value(name))
		if _, err := os.Stat(filepath.Join(buildContext, file)); err != nil {
			missing = append(missing, fmt.Sprintf("%s (no %s_URL and no %s)", source, source, file))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the layer's Docker build would find no source for %s. Run `layers/imagemagick/local.sh fetch %s` "+
			"(Debian systems), put the tarballs there yourself, or pass their URL and URL_SHA256 with -c %s='{...}'",
			strings.Join(missing, ", "), dockerSourcesDir, "dockerBuildArgs")
	}
	return nil
}

// checkPlatform asks the docker CLI the CDK will run ($CDK_DOCKER, else docker)
// which platforms its BuildKit builder can build. An arm64 build on an x86 host
// (or the reverse) needs QEMU emulation registered with binfmt_misc; without it
// every RUN fails with "exec format error" after minutes of pulling images.
func checkPlatform(platform string) error {
	docker := os.Getenv("CDK_DOCKER")
	if docker == "" {
		docker = "docker"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, docker, "buildx", "inspect", "--bootstrap").CombinedOutput()
	var notFound *exec.Error
	switch {
	case errors.As(err, &notFound), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("deploying builds the layer and the function with Docker (BuildKit), and %q was not found: install Docker, or set CDK_DOCKER", docker)
	case err != nil:
		// An old CLI without buildx: the build itself will say what is wrong.
		return nil
	}
	platforms := builderPlatforms(string(out))
	if len(platforms) == 0 || slices.ContainsFunc(platforms, func(p string) bool { return p == platform || strings.HasPrefix(p, platform+"/") }) {
		return nil
	}
	arch := strings.TrimPrefix(platform, "linux/")
	return fmt.Errorf("docker cannot build %s here: its builder supports %s. Register QEMU emulation once with "+
		"`docker run --privileged --rm tonistiigi/binfmt --install %s` (Docker Desktop has it built in), "+
		"or set the environment's \"architecture\" in cdk.json to this machine's",
		platform, strings.Join(platforms, ", "), arch)
}

// builderPlatforms reads the "Platforms:" lines of `docker buildx inspect`.
func builderPlatforms(inspect string) []string {
	var platforms []string
	for line := range strings.Lines(inspect) {
		list, ok := strings.CutPrefix(strings.TrimSpace(line), "Platforms:")
		if !ok {
			continue
		}
		for p := range strings.SplitSeq(list, ",") {
			if p = strings.TrimSuffix(strings.TrimSpace(p), "*"); p != "" {
				platforms = append(platforms, p)
			}
		}
	}
	return platforms
}
