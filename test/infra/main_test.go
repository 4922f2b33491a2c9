package infra_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/jsii-runtime-go"
)

// update rewrites the snapshots in testdata instead of comparing (`make snapshot`).
var update = flag.Bool("update", false, "rewrite the template snapshots in testdata")

// repoRoot is the repository root: the directory of cdk.json and the Docker build
// context of the layer and the function.
var repoRoot = func() string {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return root
}()

// TestMain sets the environment of the one jsii node process the tests share.
// jsii-runtime-go prepares that process, environment included, while packages
// initialize; closing the unstarted client makes the first CDK call start a
// new one that sees the variables below.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// No test may run Docker: a stack that bundles calls the fake CLI, which
	// records what the CDK asked of Docker (bundling_test.go).
	// Everything the CDK writes (cloud assemblies, Docker output) goes to tmp.
	tmp, err := os.MkdirTemp("", "test-infra-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	for k, v := range map[string]string{
		"TMPDIR": tmp,
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
		"FAKE_DOCKER_LOG": filepath.Join(tmp, "fake-docker.log"),
		"CDK_DOCKER":      filepath.Join(repoRoot, "test", "infra", "testdata", "fake-docker"),
	} {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	jsii.Close()
	defer jsii.Close()
	return m.Run()
}
