package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// DashboardProps configures NewDashboard.
type DashboardProps struct {
	Name           string
	Function       awslambda.IFunction
	TimeoutSeconds int
	FailureQueue   awssqs.IQueue
	Alarms         []awscloudwatch.Alarm
}

// NewDashboard shows what happened to the uploads (the function's own
// metrics) next to how the function ran (Lambda's metrics) and the alarms.
func NewDashboard(scope constructs.Construct, id string, props *DashboardProps) awscloudwatch.Dashboard {
	fn := props.Function
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: awscdk.Duration_Minutes(jsii.Number(5))}

	var outcomes []awscloudwatch.IMetric
	for _, name := range OutcomeMetrics {
		outcomes = append(outcomes, functionMetric(fn, name, "Sum"))
	}
	var alarmStatus []interfacesawscloudwatch.IAlarmRef
	for _, a := range props.Alarms {
		alarmStatus = append(alarmStatus, a)
	}

	d := awscloudwatch.NewDashboard(scope, &id, &awscloudwatch.DashboardProps{DashboardName: jsii.String(props.Name)})
	d.AddWidgets(
		graph("Uploads by outcome", outcomes, nil),
		graph("Bytes saved", []awscloudwatch.IMetric{functionMetric(fn, MetricBytesSaved, "Sum")}, nil),
		graph("Time per upload (ms)", []awscloudwatch.IMetric{
			functionMetric(fn, MetricDuration, "p50"), functionMetric(fn, MetricDuration, "p99"),
		}, nil),
	)
	d.AddWidgets(
		graph("Invocations, errors, throttles", []awscloudwatch.IMetric{
			fn.MetricInvocations(sum), fn.MetricErrors(sum), fn.MetricThrottles(sum),
		}, nil),
		graph("Invocation duration (ms)", []awscloudwatch.IMetric{
			fn.MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99")}),
		}, &awscloudwatch.HorizontalAnnotation{Label: jsii.String("timeout"), Value: jsii.Number(float64(props.TimeoutSeconds * 1000))}),
		graph("Failure queue", []awscloudwatch.IMetric{
			props.FailureQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum")}),
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
