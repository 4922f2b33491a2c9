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

// Buckets are where uploads arrive, where their compressed versions go, and
// where the backfill's manifests and completion reports are kept.
type Buckets interface {
	Source() awss3.IBucket
	Destination() awss3.IBucket
	// Reports is always the stack's own: S3 Batch Operations reads manifests
	// from it and writes completion reports (and S3 Inventory its lists) to it.
	Reports() awss3.IBucket
}

type buckets struct {
	constructs.Construct
	props                        *BucketsProps
	source, destination, reports awss3.IBucket
	accessLogs                   awss3.IBucket // created with the first bucket that logs to it
}

func (b *buckets) Source() awss3.IBucket      { return b.source }
func (b *buckets) Destination() awss3.IBucket { return b.destination }
func (b *buckets) Reports() awss3.IBucket     { return b.reports }

// Retention of server access logs, of overwritten source versions, and of
// the backfill's files: a manifest matters while its job runs, a report for as
// long as anyone asks what a backfill did, an inventory until the next one.
const (
	accessLogDays        = 365
	noncurrentSourceDays = 30
	manifestDays         = 30
	reportDays           = 365
	inventoryDays        = 7
)

// Where the reports bucket keeps each kind of file.
const (
	ManifestPrefix  = "manifests/"
	ReportPrefix    = "reports/"
	InventoryPrefix = "inventory/"
)

// NewBuckets creates (or imports) the source and destination buckets and
// creates the reports bucket. Created buckets deliver server access logs to a
// log bucket of their own.
func NewBuckets(scope constructs.Construct, id string, props *BucketsProps) Buckets {
	b := &buckets{Construct: constructs.NewConstruct(scope, &id), props: props}
	// Versioning keeps an overwritten or deleted upload recoverable.
	b.source = b.bucket("Source", props.SourceBucketName, true)
	b.destination = b.bucket("Destination", props.DestinationBucketName, false)
	b.reports = b.reportBucket()
	return b
}

func (b *buckets) bucket(id, importName string, versioned bool) awss3.IBucket {
	if importName != "" {
		return awss3.Bucket_FromBucketName(b.Construct, jsii.String(id), jsii.String(importName))
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
	return b.newBucket(id, versioned, b.props.Key, rule)
}

// reportBucket holds what S3 Batch Operations and S3 Inventory read and
// write. It is SSE-S3 whatever the stack's encryption: S3 writes completion
// reports with SSE-S3 anyway, and delivering an inventory to an SSE-KMS bucket
// would need S3 in the key policy.
func (b *buckets) reportBucket() awss3.IBucket {
	expire := func(id, prefix string, days float64) *awss3.LifecycleRule {
		return &awss3.LifecycleRule{Id: jsii.String(id), Prefix: jsii.String(prefix), Expiration: awscdk.Duration_Days(jsii.Number(days))}
	}
	return b.newBucket("Reports", false, nil,
		expire("expire-manifests", ManifestPrefix, manifestDays),
		expire("expire-reports", ReportPrefix, reportDays),
		expire("expire-inventories", InventoryPrefix, inventoryDays),
		&awss3.LifecycleRule{Id: jsii.String("abort-incomplete-multipart-uploads"), AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7))},
	)
}

// newBucket is a bucket of the stack: private, TLS only, encrypted with key
// (nil: SSE-S3), logging to the access-log bucket.
func (b *buckets) newBucket(id string, versioned bool, key awskms.IKey, rules ...*awss3.LifecycleRule) awss3.IBucket {
	if b.accessLogs == nil {
		b.accessLogs = b.accessLogBucket()
	}
	props := &awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		EnforceSSL:             jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		Versioned:              jsii.Bool(versioned),
		LifecycleRules:         &rules,
		ServerAccessLogsBucket: b.accessLogs,
		ServerAccessLogsPrefix: jsii.String(id + "/"),
		RemovalPolicy:          b.props.RemovalPolicy,
	}
	if key != nil {
		props.Encryption = awss3.BucketEncryption_KMS
		props.EncryptionKey = key
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
