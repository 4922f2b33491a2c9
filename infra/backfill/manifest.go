package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control/types"

	"github.com/s3-image-compressor/s3-image-compressor/infra/batchops"
)

// The ways to tell Batch Operations which objects to process.
const (
	// ManifestGenerated: S3 lists the bucket itself (prefix, suffixes,
	// created-after/before): any size, no listing here.
	ManifestGenerated = "generated"
	// ManifestList: this command lists the prefix and writes a CSV manifest:
	// exact counts and bytes before anything starts; millions of objects at most.
	ManifestList = "list"
	// ManifestInventory: the source bucket's latest S3 Inventory (inventory:
	// true): every current upload under the source prefix, listed by S3 daily.
	ManifestInventory = "inventory"
)

// Manifests are the modes, in the order the usage lists them.
var Manifests = []string{ManifestGenerated, ManifestList, ManifestInventory}

// Filter selects the objects of a backfill.
type Filter struct {
	Prefix                      string // under the source prefix
	Suffixes                    []string
	CreatedAfter, CreatedBefore time.Time // zero: unbounded
}

func (f Filter) matches(key string, modified time.Time) bool {
	return strings.HasPrefix(key, f.Prefix) &&
		slices.ContainsFunc(f.Suffixes, func(s string) bool { return strings.HasSuffix(key, s) }) &&
		(f.CreatedAfter.IsZero() || modified.After(f.CreatedAfter)) &&
		(f.CreatedBefore.IsZero() || modified.Before(f.CreatedBefore))
}

// listing is what listing the prefix found.
type listing struct {
	objects, bytes int64
	complete       bool         // the whole prefix was listed, not a first page
	manifest       bytes.Buffer // the CSV manifest of the objects, when asked for
}

// list lists the source bucket under f's prefix, counting what f matches and,
// with all, writing the manifest of every match; without all it stops after
// the first page, a sample of sizes for an estimate.
func list(ctx context.Context, d Deployment, f Filter, all bool) (*listing, error) {
	l := &listing{}
	w := batchops.NewManifestWriter(&l.manifest)
	p := s3.NewListObjectsV2Paginator(d.S3, &s3.ListObjectsV2Input{Bucket: aws.String(d.Outputs.SourceBucket), Prefix: aws.String(f.Prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, denied(err, "s3:ListBucket", "s3://"+d.Outputs.SourceBucket+" (prefix "+f.Prefix+")")
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !f.matches(key, aws.ToTime(o.LastModified)) {
				continue
			}
			l.objects++
			l.bytes += aws.ToInt64(o.Size)
			if all {
				if err := w.Add(d.Outputs.SourceBucket, key); err != nil {
					return nil, err
				}
			}
		}
		if !all && p.HasMorePages() {
			return l, w.Close()
		}
	}
	l.complete = true
	return l, w.Close()
}

// putManifest stores a CSV manifest where Batch Operations reads manifests
// and returns the job's reference to it.
func putManifest(ctx context.Context, d Deployment, name string, body []byte) (*types.JobManifest, error) {
	loc := d.Outputs.Manifests
	key := loc.Key(name)
	out, err := d.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(loc.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("text/csv"),
	})
	if err != nil {
		return nil, denied(err, "s3:PutObject", "s3://"+loc.Bucket+"/"+key)
	}
	return &types.JobManifest{
		Spec: &types.JobManifestSpec{
			Format: types.JobManifestFormatS3BatchOperationsCsv20180820,
			Fields: []types.JobManifestFieldName{types.JobManifestFieldNameBucket, types.JobManifestFieldNameKey},
		},
		Location: &types.JobManifestLocation{ObjectArn: aws.String(d.objectArn(loc.Bucket, key)), ETag: out.ETag},
	}, nil
}

// generator is S3's generated manifest for f, kept beside the others.
func generator(d Deployment, f Filter) types.JobManifestGenerator {
	filter := &types.JobManifestGeneratorFilter{
		KeyNameConstraint: &types.KeyNameConstraint{MatchAnyPrefix: []string{f.Prefix}, MatchAnySuffix: f.Suffixes},
	}
	if !f.CreatedAfter.IsZero() {
		filter.CreatedAfter = aws.Time(f.CreatedAfter)
	}
	if !f.CreatedBefore.IsZero() {
		filter.CreatedBefore = aws.Time(f.CreatedBefore)
	}
	loc := d.Outputs.Manifests
	return &types.JobManifestGeneratorMemberS3JobManifestGenerator{Value: types.S3JobManifestGenerator{
		SourceBucket:         aws.String(d.bucketArn(d.Outputs.SourceBucket)),
		EnableManifestOutput: true,
		ManifestOutputLocation: &types.S3ManifestOutputLocation{
			Bucket:         aws.String(d.bucketArn(loc.Bucket)),
			ManifestPrefix: aws.String(strings.TrimSuffix(loc.Prefix, "/")),
			ManifestFormat: types.GeneratedManifestFormatS3InventoryReportCsv20211130,
		},
		Filter: filter,
	}}
}

// latestInventory is the manifest.json of the newest inventory delivered to
// the inventory location (PREFIX/YYYY-MM-DDTHH-MMZ/manifest.json).
func latestInventory(ctx context.Context, d Deployment) (*types.JobManifest, error) {
	loc := d.Outputs.Inventory
	if loc.Bucket == "" {
		return nil, fmt.Errorf("-manifest %s needs inventory: true in environment %s (cdk.json), deployed; or use -manifest %s", ManifestInventory, d.Name, ManifestGenerated)
	}
	var latest string
	p := s3.NewListObjectsV2Paginator(d.S3, &s3.ListObjectsV2Input{Bucket: aws.String(loc.Bucket), Prefix: aws.String(loc.Prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, denied(err, "s3:ListBucket", loc.String())
		}
		for _, cp := range page.CommonPrefixes {
			// Delivery folders are named by time, beside data/ and hive/.
			dir := path.Base(strings.TrimSuffix(aws.ToString(cp.Prefix), "/"))
			if _, err := time.Parse("2006-01-02T15-04Z", dir); err == nil && dir > latest {
				latest = dir
			}
		}
	}
	if latest == "" {
		return nil, fmt.Errorf("no inventory delivered to %s yet: S3 delivers the first within 48 hours of deploying inventory: true; use -manifest %s until then", loc, ManifestGenerated)
	}
	key := loc.Key(latest + "/manifest.json")
	out, err := d.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, denied(err, "s3:GetObject", "s3://"+loc.Bucket+"/"+key)
	}
	if out.ETag == nil {
		return nil, errors.New("s3://" + loc.Bucket + "/" + key + " has no ETag")
	}
	return &types.JobManifest{
		Spec:     &types.JobManifestSpec{Format: types.JobManifestFormatS3InventoryReportCsv20161130},
		Location: &types.JobManifestLocation{ObjectArn: aws.String(d.objectArn(loc.Bucket, key)), ETag: out.ETag},
	}, nil
}

func (d Deployment) bucketArn(bucket string) string { return "arn:" + d.Partition + ":s3:::" + bucket }
func (d Deployment) objectArn(bucket, key string) string {
	return d.bucketArn(bucket) + "/" + key
}
