package compressor

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

// BackfillProps configures NewBackfill.
type BackfillProps struct {
	Environment envconfig.Environment
	Buckets     Buckets
	Function    awslambda.IFunction
}

// Backfill is what S3 Batch Operations needs to run the function over the
// images already in the source bucket (the backfill command creates the jobs).
type Backfill struct {
	// Role is the role Batch Operations assumes for a job.
	Role awsiam.IRole
	// Manifests, Reports and Inventory (nil without inventory) are
	// s3://bucket/prefix/ locations in the reports bucket.
	Manifests, Reports, Inventory *string
}

// inventoryID names the source bucket's inventory configuration; S3 delivers
// under InventoryPrefix + source bucket + "/" + inventoryID + "/".
const inventoryID = "backfill"

// NewBackfill is the Batch Operations role, the function's permission for
// it, and with inventory: true the source bucket's daily inventory.
func NewBackfill(scope constructs.Construct, id string, props *BackfillProps) Backfill {
	reports := props.Buckets.Reports()
	b := Backfill{
		Manifests: location(reports, ManifestPrefix),
		Reports:   location(reports, ReportPrefix),
	}
	inventory := props.Environment.Inventory
	if inventory {
		b.Inventory = addInventory(props.Buckets, props.Environment.Compression.SourcePrefix)
	}
	access := batchAccess{
		function: props.Function.FunctionArn(),
		reports:  reports,
		source:   props.Buckets.Source(),
	}
	role := awsiam.NewRole(scope, jsii.String(id+"Role"), &awsiam.RoleProps{
		// No aws:SourceAccount condition is needed against a confused deputy:
		// only a principal of this account holding iam:PassRole on this role
		// can name it in a job.
		AssumedBy:      awsiam.NewServicePrincipal(jsii.String("batchoperations.s3.amazonaws.com"), nil),
		Description:    jsii.String("s3-image-compressor " + props.Environment.Name + ": S3 Batch Operations backfill jobs invoke the compressor"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"Backfill": policyDocument(batchPermissions(access, inventory))},
	})
	b.Role = role
	objects := []string{
		"Resource::" + bucketObjectsPattern(reports, ManifestPrefix+"*"),
		"Resource::" + bucketObjectsPattern(reports, ReportPrefix+"*"),
	}
	if inventory {
		objects = append(objects, "Resource::"+bucketObjectsPattern(reports, InventoryPrefix+"*"))
	}
	suppress(role, "AwsSolutions-IAM5", "Batch Operations reads the manifests a job names and writes its completion report under "+
		"job-<id>/: the keys are made per job, so the role may read manifests (and inventories), write generated manifests "+
		"and write reports anywhere under those prefixes of the reports bucket, and nowhere else.", objects...)

	// The function's resource policy names the role too: the invocation is
	// allowed on both sides, and nothing else gains the right to invoke.
	props.Function.AddPermission(jsii.String("BatchOperations"), &awslambda.Permission{
		Principal: awsiam.NewArnPrincipal(role.RoleArn()),
		Action:    jsii.String("lambda:InvokeFunction"),
	})
	return b
}

// batchAccess is what a backfill job works on.
type batchAccess struct {
	function *string
	reports  awss3.IBucket
	source   awss3.IBucket
}

// batchPermissions are all a backfill job may do, one statement a line.
func batchPermissions(a batchAccess, inventory bool) []permission {
	manifests := objects(a.reports, ManifestPrefix)
	p := []permission{
		{sid: "InvokeCompressor", actions: []string{"lambda:InvokeFunction"}, resources: arns(a.function)},
		// The CSV the command writes and the lists S3 generates for a job.
		{sid: "ReadManifests", actions: []string{"s3:GetObject"}, resources: manifests},
		// S3 generates a manifest by listing the source bucket through an
		// inventory configuration of its own, and stores it for the job.
		{sid: "GenerateManifests", actions: []string{"s3:PutInventoryConfiguration"}, resources: arns(a.source.BucketArn())},
		{sid: "WriteGeneratedManifests", actions: []string{"s3:PutObject"}, resources: manifests},
		{sid: "WriteReports", actions: []string{"s3:PutObject"}, resources: objects(a.reports, ReportPrefix)},
	}
	if inventory {
		// manifest.json and the data files it lists.
		p = append(p, permission{sid: "ReadInventories", actions: []string{"s3:GetObject"}, resources: objects(a.reports, InventoryPrefix)})
	}
	return p
}

// addInventory configures a daily inventory of the current versions under
// prefix on the source bucket (a bucket of the stack: envconfig refuses
// inventory for an imported one), delivered to the reports bucket, and
// returns where its lists arrive.
func addInventory(b Buckets, prefix string) *string {
	source := b.Source().(awss3.Bucket)
	source.AddInventory(&awss3.Inventory{
		InventoryId:           jsii.String(inventoryID),
		Destination:           &awss3.InventoryDestination{Bucket: b.Reports(), Prefix: jsii.String(strings.TrimSuffix(InventoryPrefix, "/"))},
		Frequency:             awss3.InventoryFrequency_DAILY,
		Format:                awss3.InventoryFormat_CSV,
		IncludeObjectVersions: awss3.InventoryObjectVersion_CURRENT,
		ObjectsPrefix:         jsii.String(prefix),
		// Size lets the command count bytes and estimate the cost.
		OptionalFields: jsii.Strings("Size", "LastModifiedDate", "ETag"),
	})
	return awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("s3://"), b.Reports().BucketName(), jsii.String("/" + InventoryPrefix),
		source.BucketName(), jsii.String("/" + inventoryID + "/"),
	})
}

// location is s3://bucket/prefix.
func location(bucket awss3.IBucket, prefix string) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("s3://"), bucket.BucketName(), jsii.String("/" + prefix)})
}
