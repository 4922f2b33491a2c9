package infra_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// Helpers to read a synthesized template as plain JSON.

// resourcesOf maps the logical ids of a template's resources of one type to their properties.
func resourcesOf(doc map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	all, _ := doc["Resources"].(map[string]any)
	for id, r := range all {
		r, _ := r.(map[string]any)
		if r["Type"] == typ {
			props, _ := r["Properties"].(map[string]any)
			out[id] = props
		}
	}
	return out
}

// only is the one resource of typ for which keep is true; anything else is a test error.
func only(t *testing.T, doc map[string]any, typ string, keep func(map[string]any) bool) (string, map[string]any) {
	t.Helper()
	var ids []string
	for id, props := range resourcesOf(doc, typ) {
		if keep(props) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("want exactly one matching %s, found %v", typ, ids)
	}
	return ids[0], resourcesOf(doc, typ)[ids[0]]
}

// render spells an intrinsic-function value as one string: ${Id} for a Ref,
// ${Id.Attr} for a GetAtt, joins joined, and "aws" for the partition, so that a
// bucket's objects read "${BucketsSource1234.Arn}/uploads/*".
func render(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if r, ok := v["Ref"].(string); ok {
			if r == "AWS::Partition" {
				return "aws"
			}
			return "${" + r + "}"
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return fmt.Sprintf("${%v.%v}", ga[0], ga[1])
		}
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 {
			sep, _ := j[0].(string)
			parts, _ := j[1].([]any)
			var out []string
			for _, p := range parts {
				out = append(out, render(p))
			}
			return strings.Join(out, sep)
		}
	}
	doc, _ := json.Marshal(v)
	return string(doc)
}

// list is a policy field that may be one value or a list of them, rendered;
// an absent field is an empty list.
func list(v any) []string {
	if v == nil {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var out []string
	for _, i := range items {
		out = append(out, render(i))
	}
	return out
}

// policyStatements are the statements of a policy document.
func policyStatements(doc any) []map[string]any {
	sts, _ := path(doc, "Statement").([]any)
	out := make([]map[string]any, 0, len(sts))
	for _, st := range sts {
		m, _ := st.(map[string]any)
		out = append(out, m)
	}
	return out
}

// statements of every policy of the role with logical id role: its inline
// policies and the AWS::IAM::Policy resources attached to it.
func statements(doc map[string]any, role string) []map[string]any {
	var out []map[string]any
	inline, _ := path(doc, "Resources", role, "Properties", "Policies").([]any)
	for _, p := range inline {
		out = append(out, policyStatements(path(p, "PolicyDocument"))...)
	}
	for _, props := range resourcesOf(doc, "AWS::IAM::Policy") {
		if slices.Contains(list(props["Roles"]), "${"+role+"}") {
			out = append(out, policyStatements(props["PolicyDocument"])...)
		}
	}
	return out
}

// deniesInsecureTransport reports whether a resource policy denies requests without TLS.
func deniesInsecureTransport(policy map[string]any) bool {
	for _, st := range policyStatements(policy["PolicyDocument"]) {
		if st["Effect"] == "Deny" && fmt.Sprint(path(st, "Condition", "Bool", "aws:SecureTransport")) == "false" {
			return true
		}
	}
	return false
}

// checkNag fails t for every cdk-nag AwsSolutions error or warning on stack.
func checkNag(t *testing.T, stack awscdk.Stack) {
	t.Helper()
	ann := assertions.Annotations_FromStack(stack)
	match := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	for _, m := range append(*ann.FindError(jsii.String("*"), match), *ann.FindWarning(jsii.String("*"), match)...) {
		// The message's Go fields are deprecated; its JSON names the construct and the finding.
		doc, _ := json.Marshal(m)
		t.Errorf("%s: cdk-nag: %s", *stack.StackName(), doc)
	}
}

// path reads a nested value: path(m, "A", "B") is m["A"]["B"], nil if absent.
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
