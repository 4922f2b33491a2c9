// Command infra is the CDK app: one stack per environment in cdk.json.
//
//	npx cdk deploy ImageCompressor-prod
//	npx cdk synth -c env=dev -c skipBundling=true   # one environment, no Docker
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/infra/compressor"
	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
	"github.com/s3-image-compressor/s3-image-compressor/infra/github"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() (err error) {
	defer jsii.Close()
	// The CDK reports errors (a failed Docker build, cdk-nag findings) as
	// panics; the CLI user needs their message, not a Go stack.
	defer func() {
		if r := recover(); r != nil {
			err = panicError(r)
		}
	}()
	app := awscdk.NewApp(nil)
	lookup := func(key string) any { return app.Node().TryGetContext(jsii.String(key)) }

	cfg, err := envconfig.FromContext(lookup)
	if err != nil {
		return err
	}
	if cfg.SkipBundling {
		// The CLI sets this key itself (to the stacks it works on) and refuses
		// -c aws:..., so the app's own flag overrides it before any stack exists.
		app.Node().SetContext(jsii.String("aws:cdk:bundling-stacks"), []interface{}{})
	}
	// The CLI runs the app in the directory of cdk.json: the repository root.
	stacks, err := compressor.NewStacks(app, cfg.Environments, ".", cfg.DockerBuildArgs)
	if err != nil {
		return err
	}
	if cfg.SkipBundling {
		for _, s := range stacks {
			compressor.MarkNotDeployable(s)
		}
	}
	// GitHub OIDC roles (cdk.json "github"): one stack per account for all its
	// environments, so a run for one environment (-c env=NAME) leaves them out.
	if lookup(envconfig.ContextEnv) == nil {
		if _, err := github.NewStacksFromContext(app, lookup, cfg.Environments); err != nil {
			return err
		}
	}
	app.Synth(nil)
	return nil
}

// panicError is the error a recovered panic reports. jsii panics with errors;
// wrapping keeps them visible to errors.As and errors.Is.
func panicError(r any) error {
	if err, ok := r.(error); ok {
		return fmt.Errorf("cdk: %w", err)
	}
	return fmt.Errorf("cdk: %v", r)
}
