package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/function/metrics"
)

// outcomeMetrics are the counts, one per outcome of an upload.
var outcomeMetrics = []string{metrics.Processed, metrics.KeptOriginal, metrics.Rejected, metrics.Failed, metrics.Skipped}

// functionMetric is one of the metrics fn writes in CloudWatch's embedded
// metric format (names, namespace and dimension from function/metrics), over
// five minutes.
func functionMetric(fn awslambda.IFunction, name, statistic string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(metrics.Namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{metrics.DimensionFunctionName: fn.FunctionName()},
		Statistic:     jsii.String(statistic),
		Period:        awscdk.Duration_Minutes(jsii.Number(5)),
	})
}
