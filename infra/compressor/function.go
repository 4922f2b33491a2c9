package compressor

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

// FunctionProps configures NewFunction.
type FunctionProps struct {
	Environment  envconfig.Environment
	Buckets      Buckets
	FailureQueue awssqs.IQueue
	Key          awskms.IKey // the stack's key (encryption kms), or nil
	Layer        awslambda.ILayerVersion
	BuildContext string            // the repository root
	BuildArgs    map[string]string // Docker build args (ARGs of the Dockerfile)
}

// Lambda's asynchronous invocation (S3 notifications) of the function: a
// failed event is retried twice, then goes to the failure queue; an event that
// waited longer than an hour (throttling) goes there too.
const (
	retryAttempts  = 2
	maxEventAgeHrs = 1
)

// NewFunction is the compressor: the bootstrap binary built against the
// layer's ImageMagick, a role with exactly the permissions it needs, and its
// log group.
func NewFunction(scope constructs.Construct, id string, props *FunctionProps) (awslambda.Function, error) {
	e := props.Environment
	arch := architecture(e)
	code, err := dockerCode(scope, props.BuildContext, props.BuildArgs, functionTarget, arch)
	if err != nil {
		return nil, err
	}
	env, err := functionEnvironment(props)
	if err != nil {
		return nil, err
	}
	logs, err := newLogGroup(scope, id+"Logs", e)
	if err != nil {
		return nil, err
	}
	role := newFunctionRole(scope, id+"Role", props, logs)

	return awslambda.NewFunction(scope, &id, &awslambda.FunctionProps{
		Description:  jsii.String("Compresses images uploaded under " + e.Compression.SourcePrefix + " (s3-image-compressor, " + e.Name + ")"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Handler:      jsii.String("bootstrap"),
		Code:         code,
		Layers:       &[]awslambda.ILayerVersion{props.Layer},
		Architecture: arch,
		MemorySize:   jsii.Number(e.MemorySize),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(e.TimeoutSeconds)),
		Environment:  jsiiStrings(env),
		Role:         role,
		LogGroup:     logs,
		// The handler logs with slog through lambdacontext, which writes JSON only
		// when the function's log format says so.
		LoggingFormat: awslambda.LoggingFormat_JSON,

		ReservedConcurrentExecutions: reserved(e.ReservedConcurrency),
		RetryAttempts:                jsii.Number(retryAttempts),
		MaxEventAge:                  awscdk.Duration_Hours(jsii.Number(maxEventAgeHrs)),
		OnFailure:                    &queueDestination{queue: props.FailureQueue},
	}), nil
}

// functionEnvironment is the function's configuration (function/config).
func functionEnvironment(props *FunctionProps) (map[string]string, error) {
	env, err := config.Function{
		Settings:          props.Environment.Compression,
		SourceBucket:      *props.Buckets.Source().BucketName(),
		DestinationBucket: *props.Buckets.Destination().BucketName(),
		FailureQueueURL:   *props.FailureQueue.QueueUrl(),
	}.Environment()
	if err != nil {
		return nil, fmt.Errorf("function environment of %q: %w", props.Environment.Name, err)
	}
	return env, nil
}

func newLogGroup(scope constructs.Construct, id string, e envconfig.Environment) (awslogs.LogGroup, error) {
	retention, err := LogRetention(e.LogRetentionDays)
	if err != nil {
		return nil, err
	}
	return awslogs.NewLogGroup(scope, &id, &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removalPolicy(e),
	}), nil
}

// newFunctionRole is a role of the function's own, without
// AWSLambdaBasicExecutionRole: writing to its one log group is a statement like
// every other permission.
func newFunctionRole(scope constructs.Construct, id string, props *FunctionProps, logs awslogs.ILogGroup) awsiam.Role {
	e := props.Environment
	access := functionAccess{
		source:            props.Buckets.Source(),
		destination:       props.Buckets.Destination(),
		sourcePrefix:      e.Compression.SourcePrefix,
		destinationPrefix: e.Compression.DestinationPrefix,
		failureQueueArn:   props.FailureQueue.QueueArn(),
		logGroupArn:       logs.LogGroupArn(),
		sourceKeyArn:      e.SourceBucketKeyArn,
		destinationKeyArn: e.DestinationBucketKeyArn,
		deleteOutputs:     e.Compression.MirrorDeletes,
	}
	if props.Key != nil {
		access.stackKeyArn = props.Key.KeyArn()
	}
	role := awsiam.NewRole(scope, &id, &awsiam.RoleProps{
		AssumedBy:      awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description:    jsii.String("s3-image-compressor " + e.Name + ": read uploads, write compressed images, report failures"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"Compressor": policyDocument(functionPermissions(access))},
	})
	srcObjects, dstObjects := e.Compression.SourcePrefix+"*", e.Compression.DestinationPrefix+"*"
	suppress(role, "AwsSolutions-IAM5", "The function reads any upload under the source prefix "+srcObjects+
		" and writes any output under the destination prefix "+dstObjects+": object keys are not known in advance.",
		"Resource::"+bucketObjectsPattern(access.source, srcObjects),
		"Resource::"+bucketObjectsPattern(access.destination, dstObjects))
	return role
}

// queueDestination sends failed asynchronous invocations to a queue. Unlike
// awslambdadestinations.SqsDestination it grants nothing: Lambda sends with the
// function's role, whose ReportFailures statement already allows it, and the
// CDK's grant would add sqs:GetQueueAttributes, sqs:GetQueueUrl and KMS
// wildcards (GenerateDataKey*, ReEncrypt*).
type queueDestination struct{ queue awssqs.IQueue }

func (d *queueDestination) Bind(constructs.Construct, awslambda.IFunction, *awslambda.DestinationOptions) *awslambda.DestinationConfig {
	return &awslambda.DestinationConfig{Destination: d.queue.QueueArn()}
}

func architecture(e envconfig.Environment) awslambda.Architecture {
	if e.Architecture == envconfig.ArchX86_64 {
		return awslambda.Architecture_X86_64()
	}
	return awslambda.Architecture_ARM_64()
}

func removalPolicy(e envconfig.Environment) awscdk.RemovalPolicy {
	if e.RemovalPolicy == envconfig.RemovalDestroy {
		return awscdk.RemovalPolicy_DESTROY
	}
	return awscdk.RemovalPolicy_RETAIN
}

func reserved(n *int) *float64 {
	if n == nil {
		return nil
	}
	return jsii.Number(*n)
}

func jsiiStrings(m map[string]string) *map[string]*string {
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = jsii.String(v)
	}
	return &out
}

var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}

// LogRetention maps a number of days (envconfig.LogRetentionDays) to the CDK's enum.
func LogRetention(days int) (awslogs.RetentionDays, error) {
	r, ok := retentionDays[days]
	if !ok {
		return "", fmt.Errorf("log retention of %d days: CloudWatch Logs accepts one of %v", days, envconfig.LogRetentionDays)
	}
	return r, nil
}
