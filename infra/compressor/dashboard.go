package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/function/metrics"
)

// DashboardProps configures NewDashboard.
type DashboardProps struct {
	Watched
	Name   string
	Alarms []awscloudwatch.Alarm
}

// NewDashboard shows what happened to the uploads (the function's own
// metrics) next to how the function ran (Lambda's metrics) and the alarms.
func NewDashboard(scope constructs.Construct, id string, props *DashboardProps) awscloudwatch.Dashboard {
	fn := props.Function
	sum := over("Sum")

	var outcomes []awscloudwatch.IMetric
	for _, name := range outcomeMetrics {
		outcomes = append(outcomes, functionMetric(fn, name, "Sum"))
	}
	var alarmStatus []interfacesawscloudwatch.IAlarmRef
	for _, a := range props.Alarms {
		alarmStatus = append(alarmStatus, a)
	}

	// Dashboard names are unique per account: the region keeps two
	// deployments of one environment apart.
	name := props.Name + "-" + *awscdk.Stack_Of(scope).Region()
	d := awscloudwatch.NewDashboard(scope, &id, &awscloudwatch.DashboardProps{DashboardName: jsii.String(name)})
	d.AddWidgets(
		graph("Uploads by outcome", outcomes, nil),
		graph("Bytes in, out and saved", []awscloudwatch.IMetric{
			functionMetric(fn, metrics.BytesIn, "Sum"), functionMetric(fn, metrics.BytesOut, "Sum"), functionMetric(fn, metrics.BytesSaved, "Sum"),
		}, nil),
		graph("Time per upload (ms)", []awscloudwatch.IMetric{
			functionMetric(fn, metrics.Duration, "p50"), functionMetric(fn, metrics.Duration, "p99"),
		}, nil),
	)
	d.AddWidgets(
		graph("Invocations, errors, throttles", []awscloudwatch.IMetric{
			fn.MetricInvocations(sum), fn.MetricErrors(sum), fn.MetricThrottles(sum),
		}, nil),
		graph("Invocation duration (ms)", []awscloudwatch.IMetric{
			fn.MetricDuration(over("p99")),
		}, &awscloudwatch.HorizontalAnnotation{Label: jsii.String("timeout"), Value: jsii.Number(props.timeoutMillis())}),
		graph("Failure queue", []awscloudwatch.IMetric{
			props.FailureQueue.MetricApproximateNumberOfMessagesVisible(over("Maximum")),
		}, nil),
	)
	d.AddWidgets(awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title:  jsii.String("Alarms"),
		Alarms: &alarmStatus,
		Width:  jsii.Number(24),
	}))
	return d
}

func graph(title string, metrics []awscloudwatch.IMetric, line *awscloudwatch.HorizontalAnnotation) awscloudwatch.GraphWidget {
	props := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &metrics, Width: jsii.Number(8)}
	if line != nil {
		props.LeftAnnotations = &[]*awscloudwatch.HorizontalAnnotation{line}
	}
	return awscloudwatch.NewGraphWidget(props)
}
