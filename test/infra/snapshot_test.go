package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Every environment in cdk.json has its template pinned in testdata: a new
// environment fails here until `make snapshot` writes its file, and a file
// without an environment fails too.
func TestCompressorSnapshots(t *testing.T) {
	envs := repoEnvironments(t)
	var want []string
	for _, e := range envs {
		name := "compressor-" + e.Name + ".json"
		want = append(want, name)
		t.Run(e.Name, func(t *testing.T) {
			checkSnapshot(t, name, synth(t, e).doc)
		})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "compressor-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := filepath.Base(f); !slices.Contains(want, name) {
			if *update {
				if err := os.Remove(f); err != nil {
					t.Error(err)
				}
				continue
			}
			t.Errorf("snapshot %s belongs to no environment in cdk.json: delete it (make snapshot does)", f)
		}
	}
}

// assetHash matches the CDK's asset hashes (S3 keys of the layer and function
// code): they change with every source change, which the snapshot must not pin.
var assetHash = regexp.MustCompile(`[0-9a-f]{64}`)

// normalize renders tpl as sorted, indented JSON without what belongs to the
// synthesizer or the sources rather than to the stack: the bootstrap-version
// check and asset hashes.
func normalize(t *testing.T, tpl map[string]any) string {
	t.Helper()
	tpl = cloneJSON(t, tpl)
	delete(tpl, "Rules")
	if params, ok := tpl["Parameters"].(map[string]any); ok {
		delete(params, "BootstrapVersion")
		if len(params) == 0 {
			delete(tpl, "Parameters")
		}
	}
	var doc strings.Builder
	enc := json.NewEncoder(&doc) // map keys come out sorted
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // keep cdk-nag's "<Bucket.Arn>" readable
	if err := enc.Encode(tpl); err != nil {
		t.Fatal(err)
	}
	return assetHash.ReplaceAllString(doc.String(), "<asset-hash>")
}

// checkSnapshot compares tpl, normalized, with testdata/name, or writes it there
// with -update.
func checkSnapshot(t *testing.T, name string, tpl map[string]any) {
	t.Helper()
	got := normalize(t, tpl)
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run `make snapshot` (go test ./infra -update) to create it", err)
	}
	if got != string(want) {
		diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(got, "\n"))
		t.Errorf("template differs from %s (-snapshot +synthesized); if the change is intended, run `make snapshot` and commit the file:\n%s", path, diff)
	}
}

// cloneJSON deep-copies a JSON document, so normalizing leaves the original alone.
func cloneJSON(t *testing.T, v map[string]any) map[string]any {
	t.Helper()
	doc, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(doc, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
