package infra_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/s3-image-compressor/s3-image-compressor/infra/compressor"
	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

// A deploy bundles: the CDK builds the layer and the function from the
// Dockerfile's targets for the function's architecture and copies their
// directories out. Docker cannot run here, so the fake CLI (TestMain) records
// the commands; the targets must exist in the Dockerfile.
func TestDeployBundlesWithDocker(t *testing.T) {
	stages := dockerfileStages(t)
	for _, arch := range []struct{ name, platform string }{{envconfig.ArchARM64, "linux/arm64"}, {envconfig.ArchX86_64, "linux/amd64"}} {
		t.Run(arch.name, func(t *testing.T) {
			log := os.Getenv("FAKE_DOCKER_LOG")
			if err := os.WriteFile(log, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			e := variant("bundled", func(e *envconfig.Environment) { e.Architecture = arch.name })
			// What the CLI sets for `cdk deploy`: bundle every selected stack.
			app := newApp(t, map[string]any{"aws:cdk:bundling-stacks": []any{"**"}})
			stack, _ := build(t, e.Name, func() (awscdk.Stack, error) {
				return compressor.NewStack(app, compressor.StackName(e.Name), &compressor.StackProps{Environment: e, BuildContext: repoRoot})
			})
			if !*stack.BundlingRequired() {
				t.Fatal("BundlingRequired() = false with aws:cdk:bundling-stacks [**]; want true")
			}
			doc, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			calls := strings.Split(strings.TrimSpace(string(doc)), "\n")

			for _, target := range []struct{ stage, dir string }{{"layer", "/opt/."}, {"function", "/asset/."}} {
				build := "build -t cdk-[0-9a-f]{64} -f " + regexp.QuoteMeta(filepath.Join(repoRoot, "layers/imagemagick/Dockerfile")) +
					" --platform " + arch.platform + " --target " + target.stage + " " + regexp.QuoteMeta(repoRoot)
				if !slices.ContainsFunc(calls, regexp.MustCompile("^"+build+"$").MatchString) {
					t.Errorf("no docker call matching %q in:\n%s", build, doc)
				}
				if !slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "cp ") && strings.Contains(c, ":"+target.dir+" ") }) {
					t.Errorf("no docker cp of %s (target %s) in:\n%s", target.dir, target.stage, doc)
				}
				if !slices.Contains(stages, target.stage) {
					t.Errorf("target %q is not a stage of layers/imagemagick/Dockerfile (stages: %v)", target.stage, stages)
				}
			}
		})
	}
}

// dockerfileStages are the names after "FROM ... AS" in the layer's Dockerfile.
func dockerfileStages(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "layers", "imagemagick", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, m := range regexp.MustCompile(`(?im)^FROM\s+\S+\s+AS\s+(\S+)`).FindAllStringSubmatch(string(doc), -1) {
		stages = append(stages, m[1])
	}
	return stages
}
