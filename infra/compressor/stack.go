// Package compressor is the stack of one environment: buckets, the function and
// its ImageMagick layer, the failure queue, alarms, a dashboard, and what S3
// Batch Operations needs to backfill existing images.
package compressor

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
	"github.com/s3-image-compressor/s3-image-compressor/infra/stackoutputs"
)

// StackProps configures NewStack. StackProps.Env defaults to the environment's
// account and region.
type StackProps struct {
	awscdk.StackProps
	Environment envconfig.Environment
	// BuildContext is the Docker build context of the layer and the function:
	// the repository root. Default ".", where the CDK CLI runs the app.
	BuildContext string
	// DockerBuildArgs are the build args of both Docker builds (context dockerBuildArgs).
	DockerBuildArgs map[string]string
}

// StackName is the name (and construct id) of an environment's stack:
// `cdk deploy ImageCompressor-prod`.
func StackName(env string) string { return stackoutputs.StackName(env) }

// NewStacks adds one stack per environment, each named StackName(env).
func NewStacks(scope constructs.Construct, envs []envconfig.Environment, buildContext string, buildArgs map[string]string) ([]awscdk.Stack, error) {
	stacks := make([]awscdk.Stack, 0, len(envs))
	for _, e := range envs {
		s, err := NewStack(scope, StackName(e.Name), &StackProps{Environment: e, BuildContext: buildContext, DockerBuildArgs: buildArgs})
		if err != nil {
			return nil, err
		}
		stacks = append(stacks, s)
	}
	return stacks, nil
}

// NewStack builds the stack of one environment. A nil props gives the default
// environment, named "default". Every stack carries the cdk-nag AwsSolutions
// checks, so any synth, test or CLI, reports unsuppressed findings as errors.
func NewStack(scope constructs.Construct, id string, props *StackProps) (awscdk.Stack, error) {
	if props == nil {
		props = &StackProps{Environment: envconfig.Default("default")}
	}
	e := props.Environment
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if err := checkLayerWrites(props.buildContext(), e.Compression); err != nil {
		return nil, fmt.Errorf("environment %q in cdk.json: %w", e.Name, err)
	}
	stack := newStack(scope, id, props)
	removal := removalPolicy(e)
	key := newKey(stack, e)
	buckets := NewBuckets(stack, "Buckets", &BucketsProps{
		SourceBucketName:      e.SourceBucketName,
		DestinationBucketName: e.DestinationBucketName,
		Key:                   key,
		RemovalPolicy:         removal,
	})
	queue := NewFailureQueue(stack, "FailureQueue", &FailureQueueProps{Key: key, RemovalPolicy: removal})
	fn, err := newCompressor(stack, props, buckets, queue, key)
	if err != nil {
		return nil, err
	}
	alarms := newMonitoring(stack, id, e, Watched{Function: fn, Timeout: time.Duration(e.TimeoutSeconds) * time.Second, FailureQueue: queue}, key)
	backfill := NewBackfill(stack, "Backfill", &BackfillProps{Environment: e, Buckets: buckets, Function: fn})
	addOutputs(stack, e, buckets, queue, alarms)
	addBackfillOutputs(stack, fn, backfill)
	return stack, nil
}

// buildContext is BuildContext, "." (where the CDK CLI runs the app) when unset.
func (p *StackProps) buildContext() string {
	if p.BuildContext == "" {
		return "."
	}
	return p.BuildContext
}

// newStack is the empty stack, pinned where the environment says, tagged and checked.
func newStack(scope constructs.Construct, id string, props *StackProps) awscdk.Stack {
	e := props.Environment
	sp := props.StackProps
	if sp.Env == nil && (e.Account != "" || e.Region != "") {
		sp.Env = &awscdk.Environment{Account: optional(e.Account), Region: optional(e.Region)}
	}
	if sp.Description == nil {
		sp.Description = jsii.String("s3-image-compressor (" + e.Name + "): compresses images uploaded to S3")
	}
	stack := awscdk.NewStack(scope, &id, &sp)
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("s3-image-compressor"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("environment"), jsii.String(e.Name), nil)
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return stack
}

// newKey is the stack's customer-managed key (encryption kms), or nil.
func newKey(stack awscdk.Stack, e envconfig.Environment) awskms.IKey {
	if e.Encryption != envconfig.EncryptionKMS {
		return nil
	}
	return awskms.NewKey(stack, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("s3-image-compressor " + e.Name + ": buckets, failure queue and alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     removalPolicy(e),
	})
}

// newCompressor is the function with its layer, subscribed to the uploads.
func newCompressor(stack awscdk.Stack, props *StackProps, buckets Buckets, queue awssqs.IQueue, key awskms.IKey) (awslambda.Function, error) {
	e := props.Environment
	buildContext := props.buildContext()
	layer, err := NewImageMagickLayer(stack, "ImageMagickLayer", &ImageMagickLayerProps{
		BuildContext:  buildContext,
		BuildArgs:     props.DockerBuildArgs,
		Architecture:  architecture(e),
		RemovalPolicy: removalPolicy(e),
	})
	if err != nil {
		return nil, err
	}
	fn, err := NewFunction(stack, "Compressor", &FunctionProps{
		Environment:  e,
		Buckets:      buckets,
		FailureQueue: queue,
		Key:          key,
		Layer:        layer,
		BuildContext: buildContext,
		BuildArgs:    props.DockerBuildArgs,
	})
	if err != nil {
		return nil, err
	}
	subscribe(buckets.Source(), fn, e.Compression)
	suppressNotificationHandler(stack)
	return fn, nil
}

// newMonitoring is the alarms and, beside them, the dashboard named after the stack.
func newMonitoring(stack awscdk.Stack, name string, e envconfig.Environment, watched Watched, key awskms.IKey) Alarms {
	alarms := NewAlarms(stack, "Alarms", &AlarmsProps{Watched: watched, Email: e.AlarmEmail, Key: key})
	NewDashboard(stack, "Dashboard", &DashboardProps{Watched: watched, Name: name, Alarms: alarms.Alarms()})
	return alarms
}

func addOutputs(stack awscdk.Stack, e envconfig.Environment, buckets Buckets, queue awssqs.IQueue, alarms Alarms) {
	awscdk.NewCfnOutput(stack, jsii.String(stackoutputs.SourceBucketName), &awscdk.CfnOutputProps{
		Value: buckets.Source().BucketName(), Description: jsii.String("Upload images under " + e.Compression.SourcePrefix + " here"),
	})
	awscdk.NewCfnOutput(stack, jsii.String(stackoutputs.DestinationBucketName), &awscdk.CfnOutputProps{
		Value: buckets.Destination().BucketName(), Description: jsii.String("Compressed images appear under " + e.Compression.DestinationPrefix + " here"),
	})
	awscdk.NewCfnOutput(stack, jsii.String(stackoutputs.FailureQueueURL), &awscdk.CfnOutputProps{Value: queue.QueueUrl()})
	awscdk.NewCfnOutput(stack, jsii.String(stackoutputs.AlarmTopicArn), &awscdk.CfnOutputProps{Value: alarms.Topic().TopicArn()})
}

// addBackfillOutputs are what the backfill command reads (stackoutputs.FromOutputs).
func addBackfillOutputs(stack awscdk.Stack, fn awslambda.IFunction, b Backfill) {
	out := func(key, description string, value *string) {
		awscdk.NewCfnOutput(stack, jsii.String(key), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	out(stackoutputs.FunctionArn, "The compressor, invoked by uploads and by backfill jobs", fn.FunctionArn())
	out(stackoutputs.BatchRoleArn, "The role S3 Batch Operations backfill jobs run with", b.Role.RoleArn())
	out(stackoutputs.ManifestLocation, "Backfill manifests: the lists of images a job processes", b.Manifests)
	out(stackoutputs.ReportLocation, "Backfill completion reports: one line per image, job-<id>/", b.Reports)
	if b.Inventory != nil {
		out(stackoutputs.InventoryLocation, "The source bucket's daily S3 Inventory, a manifest for backfill -manifest inventory", b.Inventory)
	}
}

// notificationHandlerID is the id of the CDK's singleton function that writes
// bucket notification configurations (aws-s3 BucketNotificationsHandler).
const notificationHandlerID = "BucketNotificationsHandler050a0587b7544547bf325f094a3db834"

// suppressNotificationHandler accepts the finding on the CDK's own
// notification handler, which the CDK builds and this stack cannot configure.
// (Its policy is scoped to the source bucket, so IAM5 has nothing to say.)
func suppressNotificationHandler(stack awscdk.Stack) {
	if handler := stack.Node().TryFindChild(jsii.String(notificationHandlerID)); handler != nil {
		suppress(handler, "AwsSolutions-IAM4", "The CDK's BucketNotificationsHandler, a custom resource that writes the source bucket's "+
			"notification configuration at deploy time, logs with AWSLambdaBasicExecutionRole; the CDK offers no way to replace its role.",
			"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return jsii.String(s)
}
