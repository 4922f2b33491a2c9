package infra_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/infra/compressor"
	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

// cdkContext is the "context" object of the repository's cdk.json: the
// environments and the feature flags the CLI hands the app.
var cdkContext = sync.OnceValues(func() (map[string]any, error) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "cdk.json"))
	if err != nil {
		return nil, err
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(doc, &cdk); err != nil {
		return nil, err
	}
	return cdk.Context, nil
})

// newApp is an app as `cdk synth -c skipBundling=true` builds it: the context
// of cdk.json plus extra, and no Docker.
func newApp(t *testing.T, extra map[string]any) awscdk.App {
	t.Helper()
	base, err := cdkContext()
	if err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	ctx := map[string]any{"aws:cdk:bundling-stacks": []any{}}
	for k, v := range base {
		ctx[k] = v
	}
	for k, v := range extra {
		ctx[k] = v
	}
	return awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
}

// appConfig reads the app's context the way main does.
func appConfig(t *testing.T, app awscdk.App) envconfig.App {
	t.Helper()
	cfg, err := envconfig.FromContext(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		t.Fatalf("context: %v", err)
	}
	return cfg
}

// repoEnvironments are the environments of cdk.json, read through the app's context.
func repoEnvironments(t *testing.T) []envconfig.Environment {
	t.Helper()
	return appConfig(t, newApp(t, nil)).Environments
}

type synthesized struct {
	env   envconfig.Environment
	stack awscdk.Stack
	tpl   assertions.Template
	doc   map[string]any // the template as plain JSON, for walking
}

var synthCache = map[string]*synthesized{}

// synth is the template of e's stack, built once per distinct environment.
func synth(t *testing.T, e envconfig.Environment) *synthesized {
	t.Helper()
	key, err := json.Marshal(struct {
		Name string
		Env  envconfig.Environment
	}{e.Name, e})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := synthCache[string(key)]; ok {
		return s
	}
	stack, tpl := build(t, e.Name, func() (awscdk.Stack, error) {
		stacks, err := compressor.NewStacks(newApp(t, nil), []envconfig.Environment{e}, repoRoot, nil)
		if err != nil {
			return nil, err
		}
		return stacks[0], nil
	})
	s := &synthesized{env: e, stack: stack, tpl: tpl}
	s.doc = cloneJSON(t, *s.tpl.ToJSON())
	synthCache[string(key)] = s
	return s
}

// validationReport finds the file named in the CDK's "Validation failed" error.
var validationReport = regexp.MustCompile(`\S+validation-report\.json`)

// build constructs a stack and synthesizes it. The CDK reports errors as
// panics, which would end the test binary; they fail the test instead, with the
// cdk-nag findings when a synth fails validation.
func build(t *testing.T, name string, construct func() (awscdk.Stack, error)) (stack awscdk.Stack, tpl assertions.Template) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if report, err := os.ReadFile(validationReport.FindString(msg)); err == nil {
				msg += "\n" + string(report)
			}
			t.Fatalf("stack %s: %s", name, msg)
		}
	}()
	stack, err := construct()
	if err != nil {
		t.Fatalf("stack %s: %v", name, err)
	}
	return stack, assertions.Template_FromStack(stack, nil)
}

// must runs an assertions-package check, which panics on failure, as a test error.
func must(t *testing.T, what string, check func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	check()
}
