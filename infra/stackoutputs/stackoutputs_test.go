package stackoutputs_test

import (
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/infra/stackoutputs"
)

func TestFromOutputsRoundTrip(t *testing.T) {
	want := stackoutputs.Backfill{
		SourceBucket:      "src",
		DestinationBucket: "dst",
		FunctionArn:       "arn:aws:lambda:eu-west-1:111111111111:function:compressor",
		RoleArn:           "arn:aws:iam::111111111111:role/batch",
		Manifests:         stackoutputs.Location{Bucket: "reports", Prefix: "manifests/"},
		Reports:           stackoutputs.Location{Bucket: "reports", Prefix: "reports/"},
		Inventory:         stackoutputs.Location{Bucket: "reports", Prefix: "inventory/src/backfill/"},
	}
	got, err := stackoutputs.FromOutputs(want.Outputs())
	if err != nil || got != want {
		t.Errorf("FromOutputs(Outputs()) = %+v, %v; want %+v", got, err, want)
	}
	want.Inventory = stackoutputs.Location{}
	if got, err := stackoutputs.FromOutputs(want.Outputs()); err != nil || got != want {
		t.Errorf("without inventory: FromOutputs(Outputs()) = %+v, %v; want %+v", got, err, want)
	}
}

func TestFromOutputsOfAnOlderStack(t *testing.T) {
	_, err := stackoutputs.FromOutputs(map[string]string{
		stackoutputs.SourceBucketName: "src", stackoutputs.DestinationBucketName: "dst",
	})
	for _, want := range []string{stackoutputs.BatchRoleArn, stackoutputs.ReportLocation, "deploy it again"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("FromOutputs(a stack without backfill) error = %v, want one naming %q", err, want)
		}
	}
}

func TestParseLocation(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want stackoutputs.Location
		ok   bool
	}{
		{"s3://reports/reports/", stackoutputs.Location{Bucket: "reports", Prefix: "reports/"}, true},
		{"s3://reports/a/b", stackoutputs.Location{Bucket: "reports", Prefix: "a/b/"}, true},
		{"s3://reports", stackoutputs.Location{Bucket: "reports"}, true},
		{"https://reports/x/", stackoutputs.Location{}, false},
		{"reports/x/", stackoutputs.Location{}, false},
	} {
		got, err := stackoutputs.ParseLocation(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != "s3://"+tc.want.Bucket+"/"+tc.want.Prefix {
			t.Errorf("%+v.String() = %q", got, got.String())
		}
	}
}
