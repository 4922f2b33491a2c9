package compressor

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/function/metrics"
)

// AlarmsProps configures NewAlarms.
type AlarmsProps struct {
	Watched
	Email string      // optional subscriber of the alarm topic
	Key   awskms.IKey // optional: encrypts the topic
}

// Alarms watch the function and its failure queue and notify an SNS topic
// when an alarm fires and when it clears.
type Alarms interface {
	Topic() awssns.ITopic
	Alarms() []awscloudwatch.Alarm
}

type alarms struct {
	constructs.Construct
	topic  awssns.Topic
	alarms []awscloudwatch.Alarm
}

func (a *alarms) Topic() awssns.ITopic          { return a.topic }
func (a *alarms) Alarms() []awscloudwatch.Alarm { return a.alarms }

// An alarm on the duration fires when the slowest uploads come this close to
// the timeout: larger images, or a memory size too small for them.
const durationAlarmShare = 0.8

// NewAlarms creates the topic and the alarms.
func NewAlarms(scope constructs.Construct, id string, props *AlarmsProps) Alarms {
	a := &alarms{Construct: constructs.NewConstruct(scope, &id)}

	tp := &awssns.TopicProps{EnforceSSL: jsii.Bool(true)}
	if props.Key != nil {
		tp.MasterKey = props.Key
		// CloudWatch publishes alarms to an encrypted topic only when the key lets it.
		props.Key.Grant(awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil),
			jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey*"))
	}
	a.topic = awssns.NewTopic(a.Construct, jsii.String("Topic"), tp)
	if props.Email != "" {
		a.topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(props.Email), nil))
	}

	fn := props.Function
	a.add("Errors", "Invocations failed (returned an error or crashed); Lambda retries them, then sends them to the failure queue.",
		fn.MetricErrors(over("Sum")), 0)
	a.add("Throttles", "Invocations were throttled: uploads arrive faster than the reserved concurrency allows; events wait and may expire into the failure queue.",
		fn.MetricThrottles(over("Sum")), 0)
	a.add("DurationNearTimeout", fmt.Sprintf("The slowest 1%% of invocations took more than %.0f%% of the %.0f s timeout: give the function more memory (and so CPU) or lower the image limits.",
		durationAlarmShare*100, props.Timeout.Seconds()),
		fn.MetricDuration(over("p99")), durationAlarmShare*props.timeoutMillis())
	a.add("FailureQueueNotEmpty", "Uploads could not be processed: their events are in the failure queue (one message each) waiting for someone to look.",
		props.FailureQueue.MetricApproximateNumberOfMessagesVisible(over("Maximum")), 0)
	a.add("Failed", "Uploads could not be finished (S3 errors, deadlines): Lambda retries them, then they reach the failure queue.",
		functionMetric(fn, metrics.Failed, "Sum"), 0)
	return a
}

// add raises an alarm when metric exceeds threshold in one metricPeriod;
// no data (no uploads) is fine.
func (a *alarms) add(id, description string, metric awscloudwatch.IMetric, threshold float64) {
	alarm := awscloudwatch.NewAlarm(a.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String(description),
		Metric:             metric,
		Threshold:          jsii.Number(threshold),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	action := awscloudwatchactions.NewSnsAction(a.topic)
	alarm.AddAlarmAction(action)
	alarm.AddOkAction(action)
	a.alarms = append(a.alarms, alarm)
}
