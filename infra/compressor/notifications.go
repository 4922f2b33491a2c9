package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3notifications"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
)

// subscribe sends the ObjectCreated events of s's uploads to fn, and with
// mirrorDeletes their ObjectRemoved events (deletes and delete markers)
// too. An S3 filter holds one prefix and one suffix, so each suffix (".jpg"
// and ".JPG" alike: S3 compares case-sensitively) is a rule of its own;
// s.Validate has already refused the overlapping suffixes S3 would reject at
// deploy time.
func subscribe(bucket awss3.IBucket, fn awslambda.IFunction, s config.Settings) {
	dest := awss3notifications.NewLambdaDestination(fn)
	events := []awss3.EventType{awss3.EventType_OBJECT_CREATED}
	if s.MirrorDeletes {
		events = append(events, awss3.EventType_OBJECT_REMOVED)
	}
	for _, event := range events {
		for _, suffix := range s.Suffixes {
			bucket.AddEventNotification(event, dest, &awss3.NotificationKeyFilter{
				Prefix: jsii.String(s.SourcePrefix),
				Suffix: jsii.String(suffix),
			})
		}
	}
}
