package compressor

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
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
// layer's ImageMagick, a role made of grants only, and its log group.
func NewFunction(scope constructs.Construct, id string, props *FunctionProps) (awslambda.Function, error) {
	e := props.Environment
	removal := removalPolicy(e)
	retention, err := LogRetention(e.LogRetentionDays)
	if err != nil {
		return nil, err
	}
	arch := architecture(e)
	code, err := dockerCode(scope, props.BuildContext, props.BuildArgs, functionTarget, arch)
	if err != nil {
		return nil, err
	}
	src, dst := props.Buckets.Source(), props.Buckets.Destination()
	env, err := config.Function{
		Settings:          e.Compression,
		SourceBucket:      *src.BucketName(),
		DestinationBucket: *dst.BucketName(),
		FailureQueueURL:   *props.FailureQueue.QueueUrl(),
	}.Environment()
	if err != nil {
		return nil, fmt.Errorf("function environment of %q: %w", e.Name, err)
	}

	logs := awslogs.NewLogGroup(scope, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removal,
	})
	// A role of its own, without AWSLambdaBasicExecutionRole: writing to its one
	// log group is granted like every other permission.
	role := awsiam.NewRole(scope, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("s3-image-compressor " + e.Name + ": read uploads, write compressed images, report failures"),
	})

	fn := awslambda.NewFunction(scope, &id, &awslambda.FunctionProps{
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
		OnFailure:                    awslambdadestinations.NewSqsDestination(props.FailureQueue),
	})

	logs.GrantWrite(role)
	srcObjects := e.Compression.SourcePrefix + "*"
	dstObjects := e.Compression.DestinationPrefix + "*"
	src.GrantRead(role, srcObjects)
	// Reading the destination is how a repeated event finds its output already
	// there (same source ETag and settings hash) and does no work; without
	// s3:ListBucket a missing object would be "403", not "404".
	dst.GrantRead(role, dstObjects)
	dst.GrantPut(role, dstObjects)
	props.FailureQueue.GrantSendMessages(role)

	wildcards := []string{
		"Action::s3:GetObject*", "Action::s3:GetBucket*", "Action::s3:List*", "Action::s3:Abort*",
		"Resource::" + bucketObjectsPattern(src, srcObjects),
		"Resource::" + bucketObjectsPattern(dst, dstObjects),
	}
	reason := "The wildcards are the CDK's bucket grants: object actions (GetObject*, List*, Abort*, ...) limited to the " +
		"source prefix " + srcObjects + " and the destination prefix " + dstObjects + ", and bucket-level reads (GetBucket*) of those two buckets only."
	if props.FailureQueue.EncryptionMasterKey() != nil {
		wildcards = append(wildcards, "Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*")
		reason += " With KMS encryption, the CDK's grants add data-key actions (GenerateDataKey*, ReEncrypt*) on the stack's one key."
	}
	suppress(role, "AwsSolutions-IAM5", reason, wildcards...)
	return fn, nil
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
