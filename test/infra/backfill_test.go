package infra_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
	"github.com/s3-image-compressor/s3-image-compressor/infra/stackoutputs"
)

// batchRole names what the Batch Operations role is about in one template.
type batchRole struct {
	role, function, functionArn, source, reports string // logical ids; ARNs as render spells them
}

// batchRoleOf finds the role Batch Operations may assume and what it works on.
func batchRoleOf(t *testing.T, s *synthesized) batchRole {
	t.Helper()
	roleID, _ := only(t, s.doc, "AWS::IAM::Role", func(p map[string]any) bool {
		return slices.Contains(trustedServices(p), "batchoperations.s3.amazonaws.com")
	})
	fnID, _ := only(t, s.doc, "AWS::Lambda::Function", func(p map[string]any) bool { return p["Handler"] == "bootstrap" })
	reportsID, _ := only(t, s.doc, "AWS::S3::Bucket", isReportsBucket)
	return batchRole{
		role:        roleID,
		function:    fnID,
		functionArn: "${" + fnID + ".Arn}",
		source:      functionRoleOf(t, s).source,
		reports:     "${" + reportsID + ".Arn}",
	}
}

// isReportsBucket tells the reports bucket by its lifecycle rules.
func isReportsBucket(bucket map[string]any) bool {
	return strings.Contains(render(bucket["LifecycleConfiguration"]), `"expire-reports"`)
}

// logicalID is Id of an ARN rendered as ${Id.Arn}.
func logicalID(arn string) string { return strings.TrimSuffix(strings.TrimPrefix(arn, "${"), ".Arn}") }

// trustedServices lists the service principals a role's trust policy names.
func trustedServices(role map[string]any) []string {
	var out []string
	for _, st := range policyStatements(role["AssumeRolePolicyDocument"]) {
		out = append(out, list(path(st, "Principal", "Service"))...)
	}
	return out
}

// batchRoleProblems lists every way the Batch Operations role differs from
// exactly what a backfill job needs: invoke the compressor, read manifests
// (and inventories), write generated manifests and completion reports.
func batchRoleProblems(doc map[string]any, e envconfig.Environment, r batchRole) []string {
	want := map[string]statement{
		"InvokeCompressor":        {Actions: []string{"lambda:InvokeFunction"}, Resources: []string{r.functionArn}},
		"ReadManifests":           {Actions: []string{"s3:GetObject"}, Resources: []string{r.reports + "/manifests/*"}},
		"GenerateManifests":       {Actions: []string{"s3:PutInventoryConfiguration"}, Resources: []string{r.source}},
		"WriteGeneratedManifests": {Actions: []string{"s3:PutObject"}, Resources: []string{r.reports + "/manifests/*"}},
		"WriteReports":            {Actions: []string{"s3:PutObject"}, Resources: []string{r.reports + "/reports/*"}},
	}
	if e.Inventory {
		want["ReadInventories"] = statement{Actions: []string{"s3:GetObject"}, Resources: []string{r.reports + "/inventory/*"}}
	}
	var problems []string
	role := path(doc, "Resources", r.role, "Properties").(map[string]any)
	trust := policyStatements(role["AssumeRolePolicyDocument"])
	if len(trust) != 1 || trust[0]["Effect"] != "Allow" || render(trust[0]["Action"]) != "sts:AssumeRole" ||
		!reflect.DeepEqual(path(trust[0], "Principal"), map[string]any{"Service": "batchoperations.s3.amazonaws.com"}) {
		problems = append(problems, fmt.Sprintf("trust policy %s: want only batchoperations.s3.amazonaws.com allowed sts:AssumeRole", render(trust)))
	}
	return append(problems, statementProblems(doc, r.role, want)...)
}

// checkBackfill asserts what every stack offers S3 Batch Operations.
func checkBackfill(t *testing.T, s *synthesized) {
	t.Helper()
	r := batchRoleOf(t, s)
	for _, problem := range batchRoleProblems(s.doc, s.env, r) {
		t.Errorf("batch role %s: %s", r.role, problem)
	}

	var invokers []string
	for _, p := range resourcesOf(s.doc, "AWS::Lambda::Permission") {
		if render(p["FunctionName"]) == r.functionArn || render(p["FunctionName"]) == "${"+r.function+"}" {
			invokers = append(invokers, render(p["Principal"]))
		}
	}
	if !slices.Contains(invokers, "${"+r.role+".Arn}") {
		t.Errorf("the compressor's resource policy lets %v invoke it, want the batch role ${%s.Arn} among them", invokers, r.role)
	}

	reports := resourcesOf(s.doc, "AWS::S3::Bucket")[logicalID(r.reports)]
	if alg := render(path(reports, "BucketEncryption")); !strings.Contains(alg, "AES256") {
		t.Errorf("reports bucket encryption = %s, want SSE-S3 (S3 writes completion reports with it)", alg)
	}

	outputs, _ := s.doc["Outputs"].(map[string]any)
	reportsRef := "${" + logicalID(r.reports) + "}"
	want := map[string]string{
		stackoutputs.FunctionArn:      r.functionArn,
		stackoutputs.BatchRoleArn:     "${" + r.role + ".Arn}",
		stackoutputs.ManifestLocation: "s3://" + reportsRef + "/manifests/",
		stackoutputs.ReportLocation:   "s3://" + reportsRef + "/reports/",
	}
	if s.env.Inventory {
		want[stackoutputs.InventoryLocation] = "s3://" + reportsRef + "/inventory/${" + logicalID(r.source) + "}/backfill/"
	} else if _, ok := outputs[stackoutputs.InventoryLocation]; ok {
		t.Errorf("output %s without inventory: true", stackoutputs.InventoryLocation)
	}
	for key, value := range want {
		if got := render(path(outputs, key, "Value")); got != value {
			t.Errorf("output %s = %s, want %s", key, got, value)
		}
	}
}

// checkInventory: inventory: true lists the current uploads under the source
// prefix daily into the reports bucket, which lets S3 deliver there.
func checkInventory(t *testing.T, s *synthesized) {
	t.Helper()
	r := batchRoleOf(t, s)
	source := resourcesOf(s.doc, "AWS::S3::Bucket")[logicalID(r.source)]
	configs, _ := source["InventoryConfigurations"].([]any)
	if len(configs) != 1 {
		t.Fatalf("source bucket inventory configurations = %s, want one", render(configs))
	}
	c := configs[0]
	for _, field := range []struct {
		path []string
		want string
	}{
		{[]string{"Id"}, "backfill"}, {[]string{"ScheduleFrequency"}, "Daily"}, {[]string{"IncludedObjectVersions"}, "Current"},
		{[]string{"Enabled"}, "true"}, {[]string{"Prefix"}, s.env.Compression.SourcePrefix},
		{[]string{"OptionalFields"}, `["Size","LastModifiedDate","ETag"]`},
		{[]string{"Destination", "BucketArn"}, r.reports}, {[]string{"Destination", "Format"}, "CSV"}, {[]string{"Destination", "Prefix"}, "inventory"},
	} {
		if got := render(path(c, field.path...)); got != field.want {
			t.Errorf("inventory %s = %s, want %s", strings.Join(field.path, "."), got, field.want)
		}
	}
	delivers := false
	for _, p := range resourcesOf(s.doc, "AWS::S3::BucketPolicy") {
		for _, st := range policyStatements(p["PolicyDocument"]) {
			if st["Effect"] == "Allow" && render(path(st, "Principal", "Service")) == "s3.amazonaws.com" &&
				slices.Contains(list(st["Action"]), "s3:PutObject") && slices.Contains(list(st["Resource"]), r.reports+"/inventory*") {
				delivers = true
			}
		}
	}
	if !delivers {
		t.Error("the reports bucket's policy does not let s3.amazonaws.com deliver the inventory")
	}
}

// TestBatchRoleCheckCatchesBroaderGrants proves batchRoleProblems is not
// vacuous: each change below to a sound template must be reported.
func TestBatchRoleCheckCatchesBroaderGrants(t *testing.T) {
	s := synth(t, variant("defaults", func(*envconfig.Environment) {}))
	r := batchRoleOf(t, s)
	if problems := batchRoleProblems(s.doc, s.env, r); len(problems) != 0 {
		t.Fatalf("the defaults' batch role: %v; want no problem", problems)
	}
	bySid := func(doc map[string]any, sid string) map[string]any {
		for _, st := range statements(doc, r.role) {
			if st["Sid"] == sid {
				return st
			}
		}
		t.Fatalf("no statement %s in role %s", sid, r.role)
		return nil
	}
	trust := func(doc map[string]any) map[string]any {
		return policyStatements(path(doc, "Resources", r.role, "Properties", "AssumeRolePolicyDocument"))[0]
	}
	cases := map[string]func(doc map[string]any){
		"invoke any function": func(doc map[string]any) { bySid(doc, "InvokeCompressor")["Resource"] = "*" },
		"read the uploads":    func(doc map[string]any) { bySid(doc, "ReadManifests")["Resource"] = r.source + "/*" },
		"write anywhere in the reports bucket": func(doc map[string]any) {
			bySid(doc, "WriteReports")["Resource"] = r.reports + "/*"
		},
		"delete reports": func(doc map[string]any) {
			bySid(doc, "WriteReports")["Action"] = []any{"s3:PutObject", "s3:DeleteObject"}
		},
		"another trusted service": func(doc map[string]any) {
			trust(doc)["Principal"] = map[string]any{"Service": []any{"batchoperations.s3.amazonaws.com", "lambda.amazonaws.com"}}
		},
		"an inventory statement without inventory": func(doc map[string]any) {
			st := bySid(doc, "ReadManifests")
			st["Sid"] = "ReadInventories"
		},
	}
	expectReported(t, s.doc, "batch role", cases, func(doc map[string]any) []string { return batchRoleProblems(doc, s.env, r) })
}
