package infra_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
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

// list is a policy field that may be one value or a list of them, rendered.
func list(v any) []string {
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

// statements of the IAM policies attached to the role with logical id role.
func statements(doc map[string]any, role string) []map[string]any {
	var out []map[string]any
	for _, props := range resourcesOf(doc, "AWS::IAM::Policy") {
		if !slices.Contains(list(props["Roles"]), "${"+role+"}") {
			continue
		}
		pd, _ := props["PolicyDocument"].(map[string]any)
		sts, _ := pd["Statement"].([]any)
		for _, st := range sts {
			if st, ok := st.(map[string]any); ok {
				out = append(out, st)
			}
		}
	}
	return out
}

// denies reports whether a resource policy denies requests without TLS.
func deniesInsecureTransport(policy map[string]any) bool {
	pd, _ := policy["PolicyDocument"].(map[string]any)
	sts, _ := pd["Statement"].([]any)
	for _, st := range sts {
		st, _ := st.(map[string]any)
		cond, _ := st["Condition"].(map[string]any)
		b, _ := cond["Bool"].(map[string]any)
		if st["Effect"] == "Deny" && fmt.Sprint(b["aws:SecureTransport"]) == "false" {
			return true
		}
	}
	return false
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
