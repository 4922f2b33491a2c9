package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// FailureQueueProps configures NewFailureQueue.
type FailureQueueProps struct {
	Key           awskms.IKey // nil: SQS-managed encryption
	RemovalPolicy awscdk.RemovalPolicy
}

// NewFailureQueue holds one message per upload that could not be processed:
// invocations that failed after Lambda's retries (the on-failure destination)
// and permanent failures the function reports itself. Operators read it; an
// alarm fires while it is not empty.
func NewFailureQueue(scope constructs.Construct, id string, props *FailureQueueProps) awssqs.Queue {
	qp := &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)), // SQS's maximum: time to investigate
		RemovalPolicy:   props.RemovalPolicy,
	}
	if props.Key != nil {
		qp.Encryption = awssqs.QueueEncryption_KMS
		qp.EncryptionMasterKey = props.Key
	}
	q := awssqs.NewQueue(scope, &id, qp)
	suppress(q, "AwsSolutions-SQS3", "This queue is itself the dead-letter destination of the function's failed events. "+
		"Nothing consumes it automatically, so a further dead-letter queue would never receive a message.")
	return q
}
