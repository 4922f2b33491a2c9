// Package compressor is the stack of one environment: buckets, the function and
// its ImageMagick layer, the failure queue, alarms and a dashboard.
package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
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
func StackName(env string) string { return "ImageCompressor-" + env }

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
	sp := props.StackProps
	if sp.Env == nil && (e.Account != "" || e.Region != "") {
		sp.Env = &awscdk.Environment{Account: optional(e.Account), Region: optional(e.Region)}
	}
	if sp.Description == nil {
		sp.Description = jsii.String("s3-image-compressor (" + e.Name + "): compresses images uploaded to S3")
	}
	buildContext := props.BuildContext
	if buildContext == "" {
		buildContext = "."
	}

	stack := awscdk.NewStack(scope, &id, &sp)
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("s3-image-compressor"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("environment"), jsii.String(e.Name), nil)
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)

	removal := removalPolicy(e)
	var key awskms.IKey
	if e.Encryption == envconfig.EncryptionKMS {
		key = awskms.NewKey(stack, jsii.String("Key"), &awskms.KeyProps{
			Description:       jsii.String("s3-image-compressor " + e.Name + ": buckets, failure queue and alarm topic"),
			EnableKeyRotation: jsii.Bool(true),
			RemovalPolicy:     removal,
		})
	}

	buckets := NewBuckets(stack, "Buckets", &BucketsProps{
		SourceBucketName:      e.SourceBucketName,
		DestinationBucketName: e.DestinationBucketName,
		Key:                   key,
		RemovalPolicy:         removal,
	})
	queue := NewFailureQueue(stack, "FailureQueue", &FailureQueueProps{Key: key, RemovalPolicy: removal})
	layer, err := NewImageMagickLayer(stack, "ImageMagickLayer", &ImageMagickLayerProps{
		BuildContext:  buildContext,
		BuildArgs:     props.DockerBuildArgs,
		Architecture:  architecture(e),
		RemovalPolicy: removal,
	})
	if err != nil {
		return nil, err
	}
	fn, err := NewFunction(stack, "Compressor", &FunctionProps{
		Environment:  e,
		Buckets:      buckets,
		FailureQueue: queue,
		Layer:        layer,
		BuildContext: buildContext,
		BuildArgs:    props.DockerBuildArgs,
	})
	if err != nil {
		return nil, err
	}
	subscribe(buckets.Source(), fn, e.Compression)
	suppressNotificationHandler(stack)

	alarms := NewAlarms(stack, "Alarms", &AlarmsProps{
		Function:       fn,
		TimeoutSeconds: e.TimeoutSeconds,
		FailureQueue:   queue,
		Email:          e.AlarmEmail,
		Key:            key,
	})
	NewDashboard(stack, "Dashboard", &DashboardProps{
		Name:           id,
		Function:       fn,
		TimeoutSeconds: e.TimeoutSeconds,
		FailureQueue:   queue,
		Alarms:         alarms.Alarms(),
	})

	awscdk.NewCfnOutput(stack, jsii.String("SourceBucketName"), &awscdk.CfnOutputProps{
		Value: buckets.Source().BucketName(), Description: jsii.String("Upload images under " + e.Compression.SourcePrefix + " here"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("DestinationBucketName"), &awscdk.CfnOutputProps{
		Value: buckets.Destination().BucketName(), Description: jsii.String("Compressed images appear under " + e.Compression.DestinationPrefix + " here"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("FailureQueueUrl"), &awscdk.CfnOutputProps{Value: queue.QueueUrl()})
	awscdk.NewCfnOutput(stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{Value: alarms.Topic().TopicArn()})
	return stack, nil
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
