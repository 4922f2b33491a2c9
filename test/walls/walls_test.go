package walls_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/test/local"
	"github.com/s3-image-compressor/s3-image-compressor/test/walls"
)

func TestWallsHold(t *testing.T) {
	root, err := local.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	violations, err := walls.Check(root, walls.Rules)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Error(v)
	}
}

// TestCheckFindsPlantedViolations runs the same rules over a workspace built
// to break each of them: stand-ins for the AWS SDK and jsii (local modules
// under the real paths) and a function module whose packages import them.
func TestCheckFindsPlantedViolations(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"go.work":                          "go 1.26\n\nuse (\n\t./function\n\t./infra\n)\n",
		"fake/awssdk/go.mod":               "module github.com/aws/aws-sdk-go-v2\n\ngo 1.26\n",
		"fake/awssdk/aws/aws.go":           "package aws\n",
		"fake/jsii/go.mod":                 "module github.com/aws/jsii-runtime-go\n\ngo 1.26\n",
		"fake/jsii/jsii.go":                "package jsii\n",
		"function/config/config.go":        "package config\n",
		"function/outcome/outcome.go":      "package outcome\n\nimport _ \"github.com/aws/aws-sdk-go-v2/aws\"\n",
		"function/pipeline/pipeline.go":    "package pipeline\n\nimport _ \"" + walls.Project + "function/outcome\"\n",
		"function/pipeline/strip/strip.go": "package strip\n\nimport (\n\t_ \"net/http\"\n\t_ \"os\"\n)\n",
		"function/handler/handler.go":      "package handler\n\nimport _ \"github.com/aws/jsii-runtime-go\"\n",
		"function/go.mod": "module " + walls.Project + "function\n\ngo 1.26\n\n" +
			"require (\n\tgithub.com/aws/aws-sdk-go-v2 v1.0.0\n\tgithub.com/aws/jsii-runtime-go v1.0.0\n)\n\n" +
			"replace github.com/aws/aws-sdk-go-v2 => ../fake/awssdk\n\nreplace github.com/aws/jsii-runtime-go => ../fake/jsii\n",
		"infra/main.go": "package main\n\nimport (\n\t_ \"" + walls.Project + "function/config\"\n\t_ \"" + walls.Project + "function/handler\"\n)\n\nfunc main() {}\n",
		"infra/go.mod": "module " + walls.Project + "infra\n\ngo 1.26\n\nrequire " + walls.Project + "function v0.0.0\n\n" +
			"replace " + walls.Project + "function => ../function\n",
	}
	for name, body := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("GOPROXY", "off") // everything is local; nothing may be fetched

	violations, err := walls.Check(root, walls.Rules)
	if err != nil {
		t.Fatal(err)
	}
	var report []string
	for _, v := range violations {
		report = append(report, v.String())
	}
	t.Logf("the checker's report on the planted workspace:\n%s", strings.Join(report, "\n"))
	for i, want := range []string{
		walls.Rules[0].Name + ": function/handler imports github.com/aws/jsii-runtime-go",
		walls.Rules[1].Name + ": function/outcome imports github.com/aws/aws-sdk-go-v2/aws",
		walls.Rules[1].Name + ": function/pipeline imports github.com/aws/aws-sdk-go-v2/aws (function/pipeline -> function/outcome -> github.com/aws/aws-sdk-go-v2/aws)",
		walls.Rules[2].Name + ": function/pipeline/strip imports net/http",
		walls.Rules[2].Name + ": function/pipeline/strip imports os",
		walls.Rules[3].Name + ": infra imports function/handler",
	} {
		found := false
		for _, line := range report {
			found = found || strings.HasPrefix(line, want)
		}
		if !found {
			t.Errorf("planted violation %d not reported: want a line starting %q", i, want)
		}
	}
	if len(report) != 6 {
		t.Errorf("%d violations reported, want exactly the 6 planted ones", len(report))
	}
}
