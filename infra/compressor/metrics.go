package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// The function's own metrics, which it logs in CloudWatch's embedded metric
// format: namespace, one dimension (the function's name, so environments that
// share an account stay apart) and the metric names. The function writes the
// same names; this is the one place the stack spells them.
const (
	MetricsNamespace = "S3ImageCompressor"
	MetricsDimension = "FunctionName"

	MetricProcessed    = "Processed"    // count: uploads compressed
	MetricKeptOriginal = "KeptOriginal" // count: output not smaller, original (stripped) stored
	MetricRejected     = "Rejected"     // count: not an allowed image, too large, corrupt, ...
	MetricFailed       = "Failed"       // count: permanent failures, each also sent to the failure queue
	MetricSkipped      = "Skipped"      // count: duplicates, stale events, keys outside the prefix
	MetricBytesSaved   = "BytesSaved"   // bytes: input minus output
	MetricDuration     = "Duration"     // milliseconds per upload
)

// OutcomeMetrics are the counts, one per outcome of an upload.
var OutcomeMetrics = []string{MetricProcessed, MetricKeptOriginal, MetricRejected, MetricFailed, MetricSkipped}

// functionMetric is one of fn's embedded metrics over five minutes.
func functionMetric(fn awslambda.IFunction, name, statistic string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(MetricsNamespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{MetricsDimension: fn.FunctionName()},
		Statistic:     jsii.String(statistic),
		Period:        awscdk.Duration_Minutes(jsii.Number(5)),
	})
}
