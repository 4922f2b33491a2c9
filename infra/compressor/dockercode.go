package compressor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
)

type dockerTarget struct {
	stage string // --target
	path  string // directory copied out of the image: the asset's root
}

var (
	layerTarget    = dockerTarget{stage: "layer", path: "/opt"}
	functionTarget = dockerTarget{stage: "function", path: "/asset"}
)

// dockerCode is the code asset one target of the Dockerfile produces for arch.
//
// A stack whose bundling is skipped (skipBundling=true, or a CLI command that
// selects other stacks) must not run Docker: DockerImage.fromBuild builds the
// moment it is called. It gets an asset whose hash is the fingerprint of the
// build context as Docker sees it (the Dockerfile's .dockerignore applied), so
// the template has the same shape and its hash moves when a build input does.
// Such an assembly is for tests and diffs only; it must never be deployed.
func dockerCode(scope constructs.Construct, buildContext string, target dockerTarget, arch awslambda.Architecture) (awslambda.Code, error) {
	if *awscdk.Stack_Of(scope).BundlingRequired() {
		return awslambda.Code_FromDockerBuild(jsii.String(buildContext), &awslambda.DockerBuildAssetOptions{
			File:        jsii.String(dockerfile),
			TargetStage: jsii.String(target.stage),
			// Both options need the platform, or an x86 host builds x86 (aws-cdk#30239).
			Platform:  arch.DockerPlatform(),
			ImagePath: jsii.String(target.path),
		}), nil
	}

	ignore, err := dockerignore(buildContext)
	if err != nil {
		return nil, err
	}
	// Docker reads the Dockerfile apart from the context; it is an input all the same.
	ignore = append(ignore, jsii.String("!"+dockerfile), jsii.String("!"+dockerignoreFile))
	fingerprint := awscdk.FileSystem_Fingerprint(jsii.String(buildContext), &awscdk.FingerprintOptions{
		Exclude:    &ignore,
		IgnoreMode: awscdk.IgnoreMode_DOCKER,
		// Layer and function share the context; without this they would share one asset.
		ExtraHash: jsii.String(target.stage + " " + *arch.DockerPlatform()),
	})
	return awslambda.Code_FromAsset(jsii.String(buildContext), &awss3assets.AssetOptions{
		AssetHash: fingerprint,
		// Never run: the stack is not bundled. Required so that the CDK records the
		// asset without copying the build context into cdk.out.
		Bundling: &awscdk.BundlingOptions{
			Image:    awscdk.NewDockerImage(jsii.String("cdk-"+*fingerprint), fingerprint),
			Platform: arch.DockerPlatform(),
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
