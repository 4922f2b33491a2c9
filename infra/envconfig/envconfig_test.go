package envconfig_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

// repoEnvironments is the "environments" object of the repository's cdk.json.
func repoEnvironments(t *testing.T) json.RawMessage {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cdk struct {
		Context map[string]json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(doc, &cdk); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	return cdk.Context[envconfig.ContextEnvironments]
}

func TestRepositoryCDKJSONIsValid(t *testing.T) {
	envs, err := envconfig.Parse(repoEnvironments(t))
	if err != nil {
		t.Fatalf("cdk.json environments: %v", err)
	}
	names := envconfig.Names(envs)
	for _, want := range []string{"dev", "prod"} {
		if !slices.Contains(names, want) {
			t.Errorf("cdk.json environments = %v, want one named %q", names, want)
		}
	}
}

func TestFromCDKJSON(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "cdk.json"))
	if err != nil {
		t.Fatal(err)
	}
	envs, err := envconfig.FromCDKJSON(doc)
	if err != nil {
		t.Fatalf("FromCDKJSON(cdk.json) = %v", err)
	}
	want, err := envconfig.Parse(repoEnvironments(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(envconfig.Names(envs), envconfig.Names(want)) {
		t.Errorf("FromCDKJSON(cdk.json) = %v, want the environments of its context %v", envconfig.Names(envs), envconfig.Names(want))
	}
	prod, err := envconfig.Lookup(envs, "prod")
	if err != nil || prod.Name != "prod" || prod.Region != "eu-west-1" {
		t.Errorf("Lookup(prod) = %+v, %v; want cdk.json's prod in eu-west-1", prod, err)
	}
	if _, err := envconfig.Lookup(envs, "staging"); err == nil || !strings.Contains(err.Error(), `unknown environment "staging": cdk.json defines dev, prod`) {
		t.Errorf("Lookup(staging) error = %v, want one naming the environments cdk.json defines", err)
	}
	if _, err := envconfig.FromCDKJSON([]byte(`{"context":{}}`)); err == nil {
		t.Error("FromCDKJSON(no environments) succeeded, want an error")
	}
}

func TestParseFillsDefaults(t *testing.T) {
	envs, err := envconfig.Parse([]byte(`{"b":{"memorySize":512},"a":{"compression":{"jpeg":{"quality":70}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := envconfig.Names(envs); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("names = %v, want [a b] (sorted)", got)
	}
	a, b := envs[0], envs[1]
	want := envconfig.Default("a")
	if a.MemorySize != 256 || a.Architecture != "arm64" || a.RemovalPolicy != "retain" || a.TimeoutSeconds != want.TimeoutSeconds {
		t.Errorf("a = %+v, want the defaults (256 MB, arm64, retain)", a)
	}
	if a.Compression.JPEG.Quality != 70 || a.Compression.PNG != config.Default().PNG || a.Compression.SourcePrefix != "uploads/" {
		t.Errorf("a.compression = %+v, want defaults with jpeg.quality 70", a.Compression)
	}
	if b.MemorySize != 512 || b.Compression.JPEG.Quality != config.Default().JPEG.Quality {
		t.Errorf("b = %+v, want memorySize 512 and default compression", b)
	}
}

// keyArn is a well-formed KMS key ARN.
const keyArn = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"

func TestParseAcceptsKeysOfImportedBuckets(t *testing.T) {
	mrk := "arn:aws-us-gov:kms:us-gov-west-1:111111111111:key/mrk-0123456789abcdef0123456789abcdef"
	envs, err := envconfig.Parse([]byte(`{"dev":{"sourceBucketName":"acme-in","sourceBucketKeyArn":"` + keyArn +
		`","destinationBucketName":"acme-out","destinationBucketKeyArn":"` + mrk + `"}}`))
	if err != nil {
		t.Fatalf("Parse(imported buckets with a key and a multi-Region key) = %v, want no error", err)
	}
	if e := envs[0]; e.SourceBucketKeyArn != keyArn || e.DestinationBucketKeyArn != mrk {
		t.Errorf("keys = %q, %q; want %q, %q", e.SourceBucketKeyArn, e.DestinationBucketKeyArn, keyArn, mrk)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, doc, wantErr string
	}{
		{"same bucket", `{"dev":{"sourceBucketName":"images","destinationBucketName":"images"}}`, "both \"images\""},
		{"overlapping suffixes", `{"dev":{"compression":{"suffixes":[".jpg",".JPG","jpg"]}}}`, "overlap"},
		{"empty suffix", `{"dev":{"compression":{"suffixes":[".png",""]}}}`, "empty entry"},
		{"empty prefix", `{"dev":{"compression":{"sourcePrefix":""}}}`, "sourcePrefix is empty"},
		{"memory too small", `{"dev":{"memorySize":64}}`, "memorySize 64"},
		{"memory too large", `{"dev":{"memorySize":10241}}`, "memorySize 10241"},
		{"timeout zero", `{"dev":{"timeoutSeconds":0}}`, "timeoutSeconds 0"},
		{"timeout too long", `{"dev":{"timeoutSeconds":901}}`, "timeoutSeconds 901"},
		{"architecture", `{"dev":{"architecture":"amd64"}}`, "architecture \"amd64\""},
		{"removal policy", `{"dev":{"removalPolicy":"snapshot"}}`, "removalPolicy \"snapshot\""},
		{"log retention", `{"dev":{"logRetentionDays":10}}`, "logRetentionDays 10"},
		{"reserved zero", `{"dev":{"reservedConcurrency":0}}`, "reservedConcurrency 0"},
		{"encryption", `{"dev":{"encryption":"aes"}}`, "encryption \"aes\""},
		{"account", `{"dev":{"account":"1234"}}`, "account \"1234\""},
		{"region", `{"dev":{"region":"Europe"}}`, "region \"Europe\""},
		{"bucket name", `{"dev":{"sourceBucketName":"My_Bucket"}}`, "not a valid S3 bucket name"},
		{"alarm email", `{"dev":{"alarmEmail":"ops"}}`, "alarmEmail \"ops\""},
		{"env name", `{"Dev":{}}`, "name \"Dev\""},
		{"env name with two hyphens", `{"a--b":{}}`, "name \"a--b\""},
		{"env name too long", `{"` + strings.Repeat("a", envconfig.MaxNameLength+1) + `":{}}`, "want at most 30"},
		{"key of a created bucket", `{"dev":{"sourceBucketKeyArn":"` + keyArn + `"}}`, "sourceBucketKeyArn is set but sourceBucketName is not"},
		{"alias instead of key", `{"dev":{"destinationBucketName":"acme-out","destinationBucketKeyArn":"arn:aws:kms:eu-west-1:111111111111:alias/s3"}}`,
			"destinationBucketKeyArn \"arn:aws:kms:eu-west-1:111111111111:alias/s3\": want a KMS key ARN"},
		{"key id instead of ARN", `{"dev":{"sourceBucketName":"acme-in","sourceBucketKeyArn":"1234abcd-12ab-34cd-56ef-1234567890ab"}}`, "sourceBucketKeyArn \"1234abcd"},
		{"key of another service", `{"dev":{"sourceBucketName":"acme-in","sourceBucketKeyArn":"arn:aws:s3:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}`, "want a KMS key ARN"},
		{"inventory of an imported bucket", `{"dev":{"sourceBucketName":"acme-in","inventory":true}}`, "inventory is true but sourceBucketName imports \"acme-in\""},
		{"misspelt key", `{"dev":{"memory":256}}`, "unknown field \"memory\""},
		{"misspelt compression key", `{"dev":{"compression":{"quality":80}}}`, "unknown field \"quality\""},
		{"no environments", `{}`, "names no environment"},
		{"not an object", `[]`, "must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := envconfig.Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%s) error = %v, want one containing %q", tt.doc, err, tt.wantErr)
			}
		})
	}
}

func TestParseRejectsSettingsTooLargeForLambda(t *testing.T) {
	var suffixes []string
	for i := range 400 {
		suffixes = append(suffixes, fmt.Sprintf(".x%03d", i))
	}
	doc, err := json.Marshal(map[string]any{"dev": map[string]any{"compression": map[string]any{"suffixes": suffixes}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envconfig.Parse(doc); err == nil || !strings.Contains(err.Error(), "environment holds at most") {
		t.Errorf("Parse(400 suffixes) error = %v, want one about Lambda's environment size", err)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := envconfig.Parse([]byte(`{"dev":{"memorySize":1,"timeoutSeconds":0},"prod":{"architecture":"mips"}}`))
	if err == nil {
		t.Fatal("Parse accepted three errors")
	}
	for _, want := range []string{`environment "dev"`, "memorySize 1", "timeoutSeconds 0", `environment "prod"`, "mips"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestFromContext(t *testing.T) {
	// As jsii returns context values: generic JSON.
	var environments any
	if err := json.Unmarshal([]byte(`{"prod":{"region":"eu-west-1"},"dev":{}}`), &environments); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		ctx       map[string]any
		wantEnvs  []string
		wantSkip  bool
		wantError string
	}{
		{"all environments", map[string]any{}, []string{"dev", "prod"}, false, ""},
		{"one environment", map[string]any{"env": "prod"}, []string{"prod"}, false, ""},
		{"skip bundling from -c", map[string]any{"env": "dev", "skipBundling": "true"}, []string{"dev"}, true, ""},
		{"skip bundling from cdk.json", map[string]any{"skipBundling": true}, []string{"dev", "prod"}, true, ""},
		{"bundling explicitly on", map[string]any{"skipBundling": "false"}, []string{"dev", "prod"}, false, ""},
		{"unknown environment", map[string]any{"env": "staging"}, nil, false, `unknown environment "staging": cdk.json defines dev, prod (-c env=...)`},
		{"bad skipBundling", map[string]any{"skipBundling": "yes"}, nil, false, "want true or false"},
		{"no environments", map[string]any{"environments": nil}, nil, false, "names no environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := map[string]any{"environments": environments}
			for k, v := range tt.ctx {
				ctx[k] = v
			}
			app, err := envconfig.FromContext(func(key string) any { return ctx[key] })
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("FromContext error = %v, want one containing %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := envconfig.Names(app.Environments); !slices.Equal(got, tt.wantEnvs) || app.SkipBundling != tt.wantSkip {
				t.Errorf("FromContext = %v skip=%v, want %v skip=%v", got, app.SkipBundling, tt.wantEnvs, tt.wantSkip)
			}
		})
	}
}
