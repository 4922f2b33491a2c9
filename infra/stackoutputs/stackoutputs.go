// Package stackoutputs is what a deployed environment tells its users: the
// stack's name and its outputs, by the keys the CDK app writes them under. The
// backfill command reads them back (from CloudFormation, or from the file the
// local stack writes) without linking the CDK, so the keys live here, apart
// from both.
package stackoutputs

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// StackName is the name (and construct id) of an environment's stack:
// `cdk deploy ImageCompressor-prod`.
func StackName(env string) string { return "ImageCompressor-" + env }

// The output keys.
const (
	SourceBucketName      = "SourceBucketName"
	DestinationBucketName = "DestinationBucketName"
	FailureQueueURL       = "FailureQueueUrl"
	AlarmTopicArn         = "AlarmTopicArn"
	FunctionArn           = "FunctionArn"
	// BatchRoleArn is the role S3 Batch Operations assumes to invoke the function.
	BatchRoleArn = "BatchOperationsRoleArn"
	// ManifestLocation is where backfill manifests go (s3://bucket/prefix/): the
	// CSV the command writes and the lists S3 generates.
	ManifestLocation = "BatchManifestLocation"
	// ReportLocation is where S3 Batch Operations writes completion reports.
	ReportLocation = "BatchReportLocation"
	// InventoryLocation is where S3 Inventory delivers the source bucket's
	// daily list; only stacks of environments with inventory: true have it.
	InventoryLocation = "InventoryLocation"
)

// Backfill is what the backfill command needs of a stack.
type Backfill struct {
	SourceBucket, DestinationBucket string
	FunctionArn, RoleArn            string
	Manifests, Reports              Location
	Inventory                       Location // zero without inventory
}

// FromOutputs reads Backfill from a stack's outputs. A stack deployed before
// backfill existed lacks the Batch outputs; the error says to deploy again.
func FromOutputs(outputs map[string]string) (Backfill, error) {
	var missing []string
	get := func(key string) string {
		v := outputs[key]
		if v == "" {
			missing = append(missing, key)
		}
		return v
	}
	b := Backfill{
		SourceBucket:      get(SourceBucketName),
		DestinationBucket: get(DestinationBucketName),
		FunctionArn:       get(FunctionArn),
		RoleArn:           get(BatchRoleArn),
	}
	manifests, reports := get(ManifestLocation), get(ReportLocation)
	if len(missing) > 0 {
		slices.Sort(missing)
		return Backfill{}, fmt.Errorf("the stack has no output %s: it was deployed before backfill existed; deploy it again", strings.Join(missing, ", "))
	}
	var errs []error
	var err error
	if b.Manifests, err = ParseLocation(manifests); err != nil {
		errs = append(errs, fmt.Errorf("output %s: %w", ManifestLocation, err))
	}
	if b.Reports, err = ParseLocation(reports); err != nil {
		errs = append(errs, fmt.Errorf("output %s: %w", ReportLocation, err))
	}
	if inv := outputs[InventoryLocation]; inv != "" {
		if b.Inventory, err = ParseLocation(inv); err != nil {
			errs = append(errs, fmt.Errorf("output %s: %w", InventoryLocation, err))
		}
	}
	return b, errors.Join(errs...)
}

// Outputs renders b as a stack's outputs, the inverse of FromOutputs.
func (b Backfill) Outputs() map[string]string {
	out := map[string]string{
		SourceBucketName:      b.SourceBucket,
		DestinationBucketName: b.DestinationBucket,
		FunctionArn:           b.FunctionArn,
		BatchRoleArn:          b.RoleArn,
		ManifestLocation:      b.Manifests.String(),
		ReportLocation:        b.Reports.String(),
	}
	if b.Inventory.Bucket != "" {
		out[InventoryLocation] = b.Inventory.String()
	}
	return out
}

// Location is a bucket and a key prefix: s3://bucket/prefix/.
type Location struct {
	Bucket string
	Prefix string // "" or ending in "/"
}

// ParseLocation reads s3://bucket/prefix/.
func ParseLocation(s string) (Location, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return Location{}, fmt.Errorf("%q is not an s3://bucket/prefix/ location", s)
	}
	prefix := strings.TrimPrefix(u.Path, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return Location{Bucket: u.Host, Prefix: prefix}, nil
}

func (l Location) String() string { return "s3://" + l.Bucket + "/" + l.Prefix }

// Key is the key of name under the location.
func (l Location) Key(name string) string { return l.Prefix + name }
