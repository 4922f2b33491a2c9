package compressor

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// permission is one Allow statement of a role's policy. The Sid names its
// purpose, in the template and in the tests that pin every statement.
type permission struct {
	sid       string
	actions   []string
	resources []*string
	condition map[string]any // optional
}

// functionAccess is what the function's permissions are about.
type functionAccess struct {
	source, destination             awss3.IBucket
	sourcePrefix, destinationPrefix string
	failureQueueArn, logGroupArn    *string
	stackKeyArn                     *string // nil without encryption=kms
	sourceKeyArn, destinationKeyArn string  // keys of imported buckets, optional
	deleteOutputs                   bool    // mirrorDeletes
}

// functionPermissions are all the function may do, one statement a line:
// CDK grants would add wildcards (GetObject*, List*, ReEncrypt*) and actions it
// never calls (object-lock and tagging puts).
func functionPermissions(a functionAccess) []permission {
	p := []permission{
		{sid: "ReadUploads", actions: []string{"s3:GetObject"}, resources: objects(a.source, a.sourcePrefix)},
		{sid: "ListUploads", actions: []string{"s3:ListBucket"}, resources: arns(a.source.BucketArn()), condition: keysUnder(a.sourcePrefix)},
		// GetObject is also what HeadObject needs: the idempotency check reads an output's metadata.
		{sid: "ReadWriteOutputs", actions: []string{"s3:GetObject", "s3:PutObject"}, resources: objects(a.destination, a.destinationPrefix)},
		{sid: "ListOutputs", actions: []string{"s3:ListBucket"}, resources: arns(a.destination.BucketArn()), condition: keysUnder(a.destinationPrefix)},
		// Also the permission Lambda uses for the on-failure destination.
		{sid: "ReportFailures", actions: []string{"sqs:SendMessage"}, resources: arns(a.failureQueueArn)},
		{sid: "WriteLogs", actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, resources: arns(a.logGroupArn)},
	}
	if a.deleteOutputs {
		// mirrorDeletes: the outputs of a deleted upload go too; the source is never deleted from.
		p = append(p, permission{sid: "DeleteOutputs", actions: []string{"s3:DeleteObject"}, resources: objects(a.destination, a.destinationPrefix)})
	}
	if a.stackKeyArn != nil {
		// The stack's key encrypts the buckets it creates and the failure queue:
		// reading either decrypts, writing either needs a data key.
		p = append(p, permission{sid: "UseStackKey", actions: []string{"kms:Decrypt", "kms:GenerateDataKey"}, resources: arns(a.stackKeyArn)})
	}
	if a.sourceKeyArn != "" {
		p = append(p, permission{sid: "DecryptUploads", actions: []string{"kms:Decrypt"}, resources: arns(jsii.String(a.sourceKeyArn))})
	}
	if a.destinationKeyArn != "" {
		// One PutObject per output, never a multipart upload, which would also need kms:Decrypt.
		p = append(p, permission{sid: "EncryptOutputs", actions: []string{"kms:GenerateDataKey"}, resources: arns(jsii.String(a.destinationKeyArn))})
	}
	return p
}

// policyDocument renders permissions as one policy.
func policyDocument(permissions []permission) awsiam.PolicyDocument {
	statements := make([]awsiam.PolicyStatement, len(permissions))
	for i, p := range permissions {
		props := &awsiam.PolicyStatementProps{
			Sid:       jsii.String(p.sid),
			Actions:   jsii.Strings(p.actions...),
			Resources: &p.resources,
		}
		if p.condition != nil {
			props.Conditions = &p.condition
		}
		statements[i] = awsiam.NewPolicyStatement(props)
	}
	return awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &statements})
}

// objects is the ARN of bucket's objects under prefix.
func objects(bucket awss3.IBucket, prefix string) []*string {
	return arns(bucket.ArnForObjects(jsii.String(prefix + "*")))
}

// keysUnder limits s3:ListBucket to keys under prefix. S3 answers a request
// for a missing object with 404 only to a caller that may list it, and 403
// otherwise; the idempotency check and the handler's deleted-since-the-event
// path need the 404.
func keysUnder(prefix string) map[string]any {
	return map[string]any{"StringLike": map[string]any{"s3:prefix": prefix + "*"}}
}

func arns(arn ...*string) []*string { return arn }
