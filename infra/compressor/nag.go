package compressor

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// suppress records why a cdk-nag finding on c (and its children) is accepted.
// appliesTo narrows a finding such as IAM5 to the named wildcards; a new wildcard
// then fails the synth instead of being covered silently.
func suppress(c constructs.IConstruct, id, reason string, appliesTo ...string) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		list := make([]interface{}, len(appliesTo))
		for i, a := range appliesTo {
			list[i] = a
		}
		s.AppliesTo = &list
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

// bucketObjectsPattern is how cdk-nag spells the ARN of objects in bucket (as
// it appears in a finding's AppliesTo): "<LogicalId.Arn>/prefix*" for a bucket
// of this stack, "arn:<AWS::Partition>:s3:::name/prefix*" for an imported one.
func bucketObjectsPattern(bucket awss3.IBucket, objects string) string {
	if cfn, ok := bucket.Node().DefaultChild().(awss3.CfnBucket); ok {
		stack := awscdk.Stack_Of(bucket)
		return fmt.Sprintf("<%v.Arn>/%s", stack.Resolve(stack.GetLogicalId(cfn)), objects)
	}
	return fmt.Sprintf("arn:<AWS::Partition>:s3:::%s/%s", *bucket.BucketName(), objects)
}
