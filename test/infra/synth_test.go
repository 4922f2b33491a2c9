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

// synthesized is one stack and its template.
type synthesized struct {
	env   envconfig.Environment // of a compressor stack
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
	built := buildAll(t, e.Name, func() ([]awscdk.Stack, error) {
		return compressor.NewStacks(newApp(t, nil), []envconfig.Environment{e}, repoRoot, nil)
	})
	if len(built) != 1 {
		t.Fatalf("NewStacks(%s) made %d stacks, want 1", e.Name, len(built))
	}
	s := built[0]
	s.env = e
	synthCache[string(key)] = s
	return s
}

// validationReport finds the file named in the CDK's "Validation failed" error.
var validationReport = regexp.MustCompile(`\S+validation-report\.json`)

// build constructs a stack and synthesizes it (buildAll).
func build(t *testing.T, name string, construct func() (awscdk.Stack, error)) (awscdk.Stack, assertions.Template) {
	t.Helper()
	built := buildAll(t, name, func() ([]awscdk.Stack, error) {
		stack, err := construct()
		return []awscdk.Stack{stack}, err
	})
	return built[0].stack, built[0].tpl
}

// buildAll constructs stacks and synthesizes each. The CDK reports errors as
// panics, which would end the test binary; they fail the test instead, with
// the cdk-nag findings when a synth fails validation.
func buildAll(t *testing.T, name string, construct func() ([]awscdk.Stack, error)) []*synthesized {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprint(r)
			if report, err := os.ReadFile(validationReport.FindString(msg)); err == nil {
				msg += "\n" + string(report)
			}
			t.Fatalf("stacks %s: %s", name, msg)
		}
	}()
	stacks, err := construct()
	if err != nil {
		t.Fatalf("stacks %s: %v", name, err)
	}
	built := make([]*synthesized, len(stacks))
	for i, stack := range stacks {
		tpl := assertions.Template_FromStack(stack, nil)
		built[i] = &synthesized{stack: stack, tpl: tpl, doc: cloneJSON(t, *tpl.ToJSON())}
	}
	return built
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
