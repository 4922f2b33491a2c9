package compressor

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/function/metrics"
)

// Watched is what the alarms and the dashboard look at.
type Watched struct {
	Function     awslambda.IFunction
	Timeout      time.Duration // the function's: its duration is judged against it
	FailureQueue awssqs.IQueue
}

// timeoutMillis is the timeout in the unit of Lambda's Duration metric.
func (w Watched) timeoutMillis() float64 { return float64(w.Timeout.Milliseconds()) }

// metricPeriod is the period of every metric the alarms and the dashboard show:
// an alarm evaluates one period, so it is also how soon an alarm can fire.
const metricPeriod = 5 * time.Minute

// over is one statistic of a metric over metricPeriod.
func over(statistic string) *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{
		Statistic: jsii.String(statistic),
		Period:    awscdk.Duration_Seconds(jsii.Number(metricPeriod.Seconds())),
	}
}

// outcomeMetrics are the counts, one per outcome (Deleted: outputs removed
// with their source, under mirrorDeletes).
var outcomeMetrics = []string{metrics.Processed, metrics.KeptOriginal, metrics.Rejected, metrics.Failed, metrics.Skipped, metrics.Deleted}

// functionMetric is one of the metrics fn writes in CloudWatch's embedded
// metric format (names, namespace and dimension from function/metrics).
func functionMetric(fn awslambda.IFunction, name, statistic string) awscloudwatch.Metric {
	o := over(statistic)
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(metrics.Namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{metrics.DimensionFunctionName: fn.FunctionName()},
		Statistic:     o.Statistic,
		Period:        o.Period,
	})
}
