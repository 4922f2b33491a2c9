package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// BucketsProps configures NewBuckets.
type BucketsProps struct {
	// SourceBucketName and DestinationBucketName import existing buckets; empty
	// creates one.
	SourceBucketName      string
	DestinationBucketName string
	Key                   awskms.IKey // nil: S3-managed encryption of created buckets
	RemovalPolicy         awscdk.RemovalPolicy
}

// Buckets are where uploads arrive and where their compressed versions go.
type Buckets interface {
	Source() awss3.IBucket
	Destination() awss3.IBucket
}

type buckets struct {
	constructs.Construct
	props               *BucketsProps
	source, destination awss3.IBucket
	accessLogs          awss3.IBucket // created with the first bucket that logs to it
}

func (b *buckets) Source() awss3.IBucket      { return b.source }
func (b *buckets) Destination() awss3.IBucket { return b.destination }

// Retention of server access logs and of overwritten source versions.
const (
	accessLogDays        = 365
	noncurrentSourceDays = 30
)

// NewBuckets creates (or imports) the source and destination buckets. Created
// buckets deliver server access logs to a log bucket of their own.
func NewBuckets(scope constructs.Construct, id string, props *BucketsProps) Buckets {
	b := &buckets{Construct: constructs.NewConstruct(scope, &id), props: props}
	// Versioning keeps an overwritten or deleted upload recoverable.
	b.source = b.bucket("Source", props.SourceBucketName, true)
	b.destination = b.bucket("Destination", props.DestinationBucketName, false)
	return b
}

func (b *buckets) bucket(id, importName string, versioned bool) awss3.IBucket {
	if importName != "" {
		return awss3.Bucket_FromBucketName(b.Construct, jsii.String(id), jsii.String(importName))
	}
	if b.accessLogs == nil {
		b.accessLogs = b.accessLogBucket()
	}
	rule := &awss3.LifecycleRule{
		Id: jsii.String("abort-incomplete-multipart-uploads"),
		// Parts of an upload that never completes are billed until deleted.
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
	}
	if versioned {
		rule.Id = jsii.String("abort-incomplete-uploads-expire-old-versions")
		rule.NoncurrentVersionExpiration = awscdk.Duration_Days(jsii.Number(noncurrentSourceDays))
	}
	props := &awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		EnforceSSL:             jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		Versioned:              jsii.Bool(versioned),
		LifecycleRules:         &[]*awss3.LifecycleRule{rule},
		ServerAccessLogsBucket: b.accessLogs,
		ServerAccessLogsPrefix: jsii.String(id + "/"),
		RemovalPolicy:          b.props.RemovalPolicy,
	}
	if b.props.Key != nil {
		props.Encryption = awss3.BucketEncryption_KMS
		props.EncryptionKey = b.props.Key
		// One data key per bucket instead of a KMS call per object.
		props.BucketKeyEnabled = jsii.Bool(true)
	}
	return awss3.NewBucket(b.Construct, jsii.String(id), props)
}

func (b *buckets) accessLogBucket() awss3.IBucket {
	// cdk-nag accepts a bucket without access logs of its own when it is
	// itself the target of server access logs.
	logs := awss3.NewBucket(b.Construct, jsii.String("AccessLogs"), &awss3.BucketProps{
		// S3 delivers server access logs only to SSE-S3 buckets.
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-access-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(accessLogDays)),
		}},
		RemovalPolicy: b.props.RemovalPolicy,
	})
	return logs
}
