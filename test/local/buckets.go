package local

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
)

// setUpBuckets creates the buckets if needed and (re)applies the notification
// configuration on every start (none at all without notify), so a changed
// config takes effect and an old data directory cannot keep a stale one. The
// source bucket is versioned, as the stack's is: deletes leave delete markers
// and old versions.
func (s *Stack) setUpBuckets(ctx context.Context, notify bool) error {
	for _, bucket := range []string{s.SourceBucket, s.DestinationBucket, ReportsBucket} {
		_, err := s.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		var owned *types.BucketAlreadyOwnedByYou
		if err != nil && !errors.As(err, &owned) {
			return fmt.Errorf("create bucket %s: %w", bucket, err)
		}
	}
	if _, err := s.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(s.SourceBucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		return fmt.Errorf("enable versioning of %s: %w", s.SourceBucket, err)
	}
	// The destination gets no notification at all: the function's writes
	// there must never trigger it.
	if _, err := s.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket:                    aws.String(s.DestinationBucket),
		NotificationConfiguration: &types.NotificationConfiguration{},
	}); err != nil {
		return fmt.Errorf("clear the notifications of %s: %w", s.DestinationBucket, err)
	}
	input := &s3.PutBucketNotificationConfigurationInput{
		Bucket:                    aws.String(s.SourceBucket),
		NotificationConfiguration: Notifications(s.Settings),
	}
	if !notify {
		input.NotificationConfiguration = &types.NotificationConfiguration{}
	}
	// MinIO registers its webhook target a moment after it answers health
	// checks; until then it says the destination ARN does not exist.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.S3.PutBucketNotificationConfiguration(ctx, input)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("notification configuration of %s: %w", s.SourceBucket, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Notifications derives the source bucket's notification rules from the
// settings the way the CDK stack does: one rule per suffix, each with the
// source prefix, all for object creation (and removal, with mirrorDeletes)
// and all to the same target.
func Notifications(settings config.Settings) *types.NotificationConfiguration {
	arn := "arn:minio:sqs:" + Region + ":" + webhookID + ":webhook"
	events := []types.Event{types.EventS3ObjectCreated}
	if settings.MirrorDeletes {
		events = append(events, types.EventS3ObjectRemoved)
	}
	n := &types.NotificationConfiguration{}
	for _, suffix := range settings.Suffixes {
		n.QueueConfigurations = append(n.QueueConfigurations, types.QueueConfiguration{
			Id:       aws.String("compress" + suffix),
			QueueArn: aws.String(arn),
			Events:   events,
			Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{
				{Name: types.FilterRuleNamePrefix, Value: aws.String(settings.SourcePrefix)},
				{Name: types.FilterRuleNameSuffix, Value: aws.String(suffix)},
			}}},
		})
	}
	return n
}
