package viewer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3-image-compressor/s3-image-compressor/function/storage"
)

// HistoryPage is one page of the destination's outputs, grouped by source.
type HistoryPage struct {
	Records []Record `json:"records"`
	// Next continues the listing; empty on the last page.
	Next string `json:"next,omitempty"`
	// Skipped are objects under the destination prefix the compressor did
	// not write (no provenance): listed, so nothing disappears unexplained.
	Skipped []string `json:"skipped,omitempty"`
}

// historyPageSize is the number of destination objects listed per page.
const historyPageSize = 20

// lookups bounds the S3 calls one page makes at a time.
const lookups = 8

// history lists one page of outputs under the destination prefix, in key
// order (S3 lists no other way), and groups them into records by the source
// key of their provenance. The outputs of one source may straddle two pages;
// the page merges records with the same key.
func (d describer) history(ctx context.Context, prefix, token string) (HistoryPage, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(d.destBucket), Prefix: aws.String(prefix),
		MaxKeys: aws.Int32(historyPageSize)}
	if token != "" {
		in.ContinuationToken = aws.String(token)
	}
	list, err := d.s3.ListObjectsV2(ctx, in)
	if err != nil {
		return HistoryPage{}, fmt.Errorf("list s3://%s/%s: %w", d.destBucket, prefix, err)
	}
	type found struct {
		out Output
		p   storage.Provenance
		err error
	}
	results := make([]found, len(list.Contents))
	var wg sync.WaitGroup
	sem := make(chan struct{}, lookups)
	for i, obj := range list.Contents {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out, p, err := d.output(ctx, aws.ToString(obj.Key))
			results[i] = found{out, p, err}
		})
	}
	wg.Wait()

	page := HistoryPage{Records: []Record{}}
	if aws.ToBool(list.IsTruncated) {
		page.Next = aws.ToString(list.NextContinuationToken)
	}
	bySource := map[string]int{} // index in page.Records
	for i, f := range results {
		if errors.Is(f.err, errNotAnOutput) {
			page.Skipped = append(page.Skipped, aws.ToString(list.Contents[i].Key))
			continue
		}
		if f.err != nil {
			return HistoryPage{}, f.err
		}
		at, ok := bySource[f.out.SourceKey]
		if !ok {
			at = len(page.Records)
			bySource[f.out.SourceKey] = at
			page.Records = append(page.Records, Record{Key: f.out.SourceKey, Decision: f.out.Decision,
				BytesIn: f.p.BytesIn, BytesOut: f.p.BytesOut, Time: aws.ToTime(list.Contents[i].LastModified)})
		}
		page.Records[at].Outputs = append(page.Records[at].Outputs, f.out)
	}
	for i := range page.Records {
		var problems []string
		page.Records[i].Source, problems = d.sourceObject(ctx, page.Records[i].Key, nil)
		page.Records[i].Problem = strings.Join(problems, "; ")
	}
	return page, nil
}
