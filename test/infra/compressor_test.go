package infra_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/infra/compressor"
	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

// Every environment in cdk.json gets the same secure defaults.
func TestCompressorEnvironments(t *testing.T) {
	for _, e := range repoEnvironments(t) {
		t.Run(e.Name, func(t *testing.T) { checkStack(t, synth(t, e)) })
	}
}

// variant is the default environment changed by edit.
func variant(name string, edit func(e *envconfig.Environment)) envconfig.Environment {
	e := envconfig.Default(name)
	edit(&e)
	return e
}

// Configurations cdk.json does not use (yet) must be just as sound.
func TestCompressorVariants(t *testing.T) {
	tests := []struct {
		env   envconfig.Environment
		check func(t *testing.T, s *synthesized)
	}{
		{variant("defaults", func(*envconfig.Environment) {}), func(t *testing.T, s *synthesized) {
			must(t, "256 MB, arm64 by default", func() {
				s.tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
					"Handler": "bootstrap", "MemorySize": 256, "Architectures": []any{"arm64"},
				})
			})
		}},
		{variant("imported", func(e *envconfig.Environment) {
			e.SourceBucketName, e.DestinationBucketName = "acme-uploads", "acme-compressed"
		}), func(t *testing.T, s *synthesized) {
			must(t, "imported buckets are not created: only the reports bucket and its access-log bucket", func() {
				s.tpl.ResourceCountIs(jsii.String("AWS::S3::Bucket"), jsii.Number(2))
			})
			must(t, "an imported bucket keeps its other notifications", func() {
				s.tpl.HasResourceProperties(jsii.String("Custom::S3BucketNotifications"), map[string]any{
					"BucketName": "acme-uploads", "Managed": false,
				})
			})
		}},
		{variant("halfimported", func(e *envconfig.Environment) { e.SourceBucketName = "acme-uploads" }), nil},
		{variant("renditions", func(e *envconfig.Environment) {
			e.Compression.DestinationPrefix = "web/"
			e.Compression.MirrorDeletes = true
			e.Compression.Outputs = []config.Output{{Format: config.Original}, {Format: "webp", MaxWidth: 640, Suffix: "-640"}, {Format: "png", Suffix: "-lossless"}}
		}), func(t *testing.T, s *synthesized) {
			must(t, "deletes and delete markers under the prefix reach the function", func() {
				s.tpl.HasResourceProperties(jsii.String("Custom::S3BucketNotifications"), map[string]any{
					"NotificationConfiguration": assertions.Match_ObjectLike(&map[string]any{
						"LambdaFunctionConfigurations": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
							"Events": []any{"s3:ObjectRemoved:*"},
							"Filter": map[string]any{"Key": map[string]any{"FilterRules": []any{
								map[string]any{"Name": "suffix", "Value": ".jpg"}, map[string]any{"Name": "prefix", "Value": "uploads/"},
							}}},
						})}),
					}),
				})
			})
			// roleProblems (checkStack) pins the DeleteOutputs statement:
			// s3:DeleteObject on the destination prefix, nowhere else.
		}},
		{variant("kms", func(e *envconfig.Environment) { e.Encryption = envconfig.EncryptionKMS }), checkKMS},
		{variant("inventory", func(e *envconfig.Environment) { e.Inventory = true }), checkInventory},
		// Imported buckets encrypted with their own customer-managed keys (roleProblems
		// wants DecryptUploads and EncryptOutputs on exactly those keys).
		{variant("importedkeys", func(e *envconfig.Environment) {
			e.SourceBucketName, e.DestinationBucketName = "acme-uploads", "acme-compressed"
			e.SourceBucketKeyArn = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
			e.DestinationBucketKeyArn = "arn:aws:kms:eu-west-1:111111111111:key/mrk-0123456789abcdef0123456789abcdef"
		}), func(t *testing.T, s *synthesized) {
			must(t, "no key of the stack's own", func() { s.tpl.ResourceCountIs(jsii.String("AWS::KMS::Key"), jsii.Number(0)) })
		}},
		// The stack's key for the created destination and the queue, the imported source's key beside it.
		{variant("kmsimportedsource", func(e *envconfig.Environment) {
			e.Encryption = envconfig.EncryptionKMS
			e.SourceBucketName = "acme-uploads"
			e.SourceBucketKeyArn = "arn:aws-cn:kms:cn-north-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
		}), checkKMS},
		{variant("custom", func(e *envconfig.Environment) {
			e.Architecture = envconfig.ArchX86_64
			e.AlarmEmail = "ops@example.com"
			reserved := 3
			e.ReservedConcurrency = &reserved
			e.Compression.SourcePrefix = "incoming/photos/"
			e.Compression.DestinationPrefix = "small/"
			e.Compression.Suffixes = []string{".png", ".PNG"}
		}), func(t *testing.T, s *synthesized) {
			must(t, "x86_64 and reserved concurrency", func() {
				s.tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
					"Handler": "bootstrap", "Architectures": []any{"x86_64"}, "ReservedConcurrentExecutions": 3,
				})
			})
			must(t, "alarm e-mail subscribed", func() {
				s.tpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{
					"Protocol": "email", "Endpoint": "ops@example.com",
				})
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.env.Name, func(t *testing.T) {
			s := synth(t, tt.env)
			checkStack(t, s)
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func checkKMS(t *testing.T, s *synthesized) {
	t.Helper()
	keyID, _ := only(t, s.doc, "AWS::KMS::Key", func(p map[string]any) bool { return p["EnableKeyRotation"] == true })
	key := "${" + keyID + ".Arn}"
	for id, b := range resourcesOf(s.doc, "AWS::S3::Bucket") {
		if b["LoggingConfiguration"] == nil || isReportsBucket(b) {
			continue // S3 delivers access logs only to SSE-S3 buckets, and writes completion reports SSE-S3
		}
		sse := path(b, "BucketEncryption", "ServerSideEncryptionConfiguration")
		rules, _ := sse.([]any)
		if len(rules) != 1 || render(path(rules[0], "ServerSideEncryptionByDefault", "KMSMasterKeyID")) != key ||
			path(rules[0], "BucketKeyEnabled") != true {
			t.Errorf("bucket %s encryption = %v, want SSE-KMS with %s and a bucket key", id, render(sse), key)
		}
	}
	for _, typ := range []string{"AWS::SQS::Queue", "AWS::SNS::Topic"} {
		for id, p := range resourcesOf(s.doc, typ) {
			if render(p["KmsMasterKeyId"]) != key {
				t.Errorf("%s %s KmsMasterKeyId = %v, want %s", typ, id, render(p["KmsMasterKeyId"]), key)
			}
		}
	}
	must(t, "CloudWatch may publish alarms to the encrypted topic", func() {
		s.tpl.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{
			"KeyPolicy": assertions.Match_ObjectLike(&map[string]any{
				"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
				})}),
			}),
		})
	})
}

// checkStack asserts what every stack must be, whatever its configuration.
func checkStack(t *testing.T, s *synthesized) {
	t.Helper()
	e, doc := s.env, s.doc
	fnID, fn := only(t, doc, "AWS::Lambda::Function", func(p map[string]any) bool { return p["Handler"] == "bootstrap" })
	env, _ := path(fn, "Environment", "Variables").(map[string]any)
	srcARN, dstARN := bucketARN(env[config.EnvSourceBucket]), bucketARN(env[config.EnvDestinationBucket])
	queueID, queue := only(t, doc, "AWS::SQS::Queue", func(map[string]any) bool { return true })

	t.Run("buckets", func(t *testing.T) {
		created := 2 // the reports bucket and the access-log bucket, always
		for _, name := range []string{e.SourceBucketName, e.DestinationBucketName} {
			if name == "" {
				created++
			}
		}
		must(t, "bucket count", func() { s.tpl.ResourceCountIs(jsii.String("AWS::S3::Bucket"), jsii.Number(created)) })
		policies := resourcesOf(doc, "AWS::S3::BucketPolicy")
		for id, b := range resourcesOf(doc, "AWS::S3::Bucket") {
			if alg := render(path(b, "BucketEncryption", "ServerSideEncryptionConfiguration")); !strings.Contains(alg, "AES256") && !strings.Contains(alg, "aws:kms") {
				t.Errorf("bucket %s encryption = %s, want SSE-S3 or SSE-KMS", id, alg)
			}
			pab, _ := b["PublicAccessBlockConfiguration"].(map[string]any)
			for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
				if pab[k] != true {
					t.Errorf("bucket %s %s = %v, want true", id, k, pab[k])
				}
			}
			tlsOnly := false
			for _, p := range policies {
				if render(p["Bucket"]) == "${"+id+"}" && deniesInsecureTransport(p) {
					tlsOnly = true
				}
			}
			if !tlsOnly {
				t.Errorf("bucket %s has no policy denying aws:SecureTransport=false", id)
			}
			if render(b["LifecycleConfiguration"]) == "null" {
				t.Errorf("bucket %s has no lifecycle rules", id)
			}
			arn := "${" + id + ".Arn}"
			if arn != srcARN && arn != dstARN {
				continue // the access-log and reports buckets
			}
			if !strings.Contains(render(b["LifecycleConfiguration"]), `"AbortIncompleteMultipartUpload"`) {
				t.Errorf("bucket %s lifecycle = %s, want a rule aborting incomplete multipart uploads", id, render(b["LifecycleConfiguration"]))
			}
			if path(b, "LoggingConfiguration", "DestinationBucketName") == nil {
				t.Errorf("bucket %s has no server access logging", id)
			}
			if want := arn == srcARN; (path(b, "VersioningConfiguration", "Status") == "Enabled") != want {
				t.Errorf("bucket %s versioning = %v, want enabled only on the source", id, path(b, "VersioningConfiguration"))
			}
		}
	})

	t.Run("function", func(t *testing.T) {
		want := map[string]any{
			"Runtime": "provided.al2023", "MemorySize": float64(e.MemorySize), "Timeout": float64(e.TimeoutSeconds),
			"Architectures": []any{e.Architecture},
		}
		for k, v := range want {
			if !reflect.DeepEqual(fn[k], v) {
				t.Errorf("function %s = %v, want %v", k, fn[k], v)
			}
		}
		// JSON, or the handler's slog lines arrive as text.
		if lc, _ := fn["LoggingConfig"].(map[string]any); lc["LogFormat"] != "JSON" {
			t.Errorf("function LoggingConfig = %v, want LogFormat JSON", fn["LoggingConfig"])
		}
		if layers := list(fn["Layers"]); len(layers) != 1 || len(resourcesOf(doc, "AWS::Lambda::LayerVersion")) != 1 {
			t.Errorf("function layers = %v, want the one ImageMagick layer", layers)
		}
		if got, want := sortedKeys(env), []string{config.EnvSettings, config.EnvDestinationBucket, config.EnvFailureQueueURL, config.EnvSourceBucket}; !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("environment variables = %v, want %v", got, want)
		}
		settings, err := config.Parse([]byte(fmt.Sprint(env[config.EnvSettings])))
		if err != nil || !reflect.DeepEqual(settings, e.Compression) {
			t.Errorf("%s = %v (%v), want the environment's compression settings %+v", config.EnvSettings, env[config.EnvSettings], err, e.Compression)
		}
		if got := render(env[config.EnvFailureQueueURL]); got != "${"+queueID+"}" {
			t.Errorf("%s = %s, want the failure queue's URL ${%s}", config.EnvFailureQueueURL, got, queueID)
		}
		logGroup := render(path(fn, "LoggingConfig", "LogGroup"))
		groups := resourcesOf(doc, "AWS::Logs::LogGroup")
		if g, ok := groups[strings.Trim(logGroup, "${}")]; !ok || g["RetentionInDays"] != float64(e.LogRetentionDays) {
			t.Errorf("function log group %s = %v, want one with RetentionInDays %d", logGroup, g, e.LogRetentionDays)
		}
	})

	t.Run("notifications", func(t *testing.T) {
		_, n := only(t, doc, "Custom::S3BucketNotifications", func(p map[string]any) bool {
			return bucketARN(p["BucketName"]) == srcARN
		})
		configs, _ := path(n, "NotificationConfiguration", "LambdaFunctionConfigurations").([]any)
		var suffixes []string
		for _, c := range configs {
			rules := map[string]string{}
			rl, _ := path(c, "Filter", "Key", "FilterRules").([]any)
			for _, r := range rl {
				rules[strings.ToLower(fmt.Sprint(path(r, "Name")))] = fmt.Sprint(path(r, "Value"))
			}
			if len(rules) != 2 || rules["prefix"] != e.Compression.SourcePrefix {
				t.Errorf("notification filter = %v, want prefix %q and one suffix", rules, e.Compression.SourcePrefix)
			}
			if got := render(path(c, "LambdaFunctionArn")); got != "${"+fnID+".Arn}" {
				t.Errorf("notification target = %s, want the compressor ${%s.Arn}", got, fnID)
			}
			ev := list(path(c, "Events"))
			if len(ev) != 1 {
				t.Errorf("notification events = %v, want one per rule", ev)
				continue
			}
			suffixes = append(suffixes, ev[0]+" "+rules["suffix"])
		}
		// One rule per configured suffix for uploads, and with mirrorDeletes
		// one per suffix for deletes and delete markers.
		var want []string
		for _, suffix := range e.Compression.Suffixes {
			want = append(want, "s3:ObjectCreated:* "+suffix)
			if e.Compression.MirrorDeletes {
				want = append(want, "s3:ObjectRemoved:* "+suffix)
			}
		}
		if !slices.Equal(slices.Sorted(slices.Values(suffixes)), slices.Sorted(slices.Values(want))) {
			t.Errorf("notification rules = %v, want %v", suffixes, want)
		}
	})

	t.Run("role", func(t *testing.T) {
		r := functionRoleOf(t, s)
		if resourcesOf(doc, "AWS::IAM::Role")[r.role] == nil {
			t.Errorf("function role %s is not a role of the stack", r.role)
		}
		for _, problem := range roleProblems(doc, e, r) {
			t.Errorf("function role %s: %s", r.role, problem)
		}
	})

	t.Run("no access keys", func(t *testing.T) {
		for _, typ := range []string{"AWS::IAM::AccessKey", "AWS::IAM::User"} {
			must(t, typ, func() { s.tpl.ResourceCountIs(jsii.String(typ), jsii.Number(0)) })
		}
	})

	t.Run("failure queue", func(t *testing.T) {
		if queue["SqsManagedSseEnabled"] != true && queue["KmsMasterKeyId"] == nil {
			t.Errorf("failure queue %s is not encrypted: %v", queueID, queue)
		}
		tlsOnly := false
		for _, p := range resourcesOf(doc, "AWS::SQS::QueuePolicy") {
			if slices.Contains(list(p["Queues"]), "${"+queueID+"}") && deniesInsecureTransport(p) {
				tlsOnly = true
			}
		}
		if !tlsOnly {
			t.Errorf("failure queue %s has no policy denying aws:SecureTransport=false", queueID)
		}
		must(t, "async invocations: two retries, one hour, then the failure queue", func() {
			s.tpl.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{
				"FunctionName":             map[string]any{"Ref": fnID},
				"MaximumRetryAttempts":     2,
				"MaximumEventAgeInSeconds": 3600,
				"DestinationConfig": map[string]any{"OnFailure": map[string]any{
					"Destination": map[string]any{"Fn::GetAtt": []any{queueID, "Arn"}},
				}},
			})
		})
	})

	t.Run("alarms", func(t *testing.T) {
		topicID, _ := only(t, doc, "AWS::SNS::Topic", func(map[string]any) bool { return true })
		want := map[string]string{
			"AWS/Lambda Errors": "", "AWS/Lambda Throttles": "", "AWS/Lambda Duration": "p99",
			"AWS/SQS ApproximateNumberOfMessagesVisible": "", "S3ImageCompressor Failed": "",
		}
		got := map[string]string{}
		for id, a := range resourcesOf(doc, "AWS::CloudWatch::Alarm") {
			key := fmt.Sprint(a["Namespace"], " ", a["MetricName"])
			got[key] = fmt.Sprint(a["ExtendedStatistic"])
			if a["ComparisonOperator"] != "GreaterThanThreshold" || !slices.Contains(list(a["AlarmActions"]), "${"+topicID+"}") ||
				!slices.Contains(list(a["OKActions"]), "${"+topicID+"}") {
				t.Errorf("alarm %s (%s) = %v, want GreaterThanThreshold notifying topic %s on alarm and OK", id, key, a, topicID)
			}
			// The function's own metrics carry the dimension function/metrics writes.
			if dims := render(a["Dimensions"]); key == "S3ImageCompressor Failed" && dims != `[{"Name":"FunctionName","Value":{"Ref":"`+fnID+`"}}]` {
				t.Errorf("alarm %s dimensions = %s, want FunctionName = the compressor %s", id, dims, fnID)
			}
			if key == "AWS/Lambda Duration" && a["Threshold"] != 0.8*float64(e.TimeoutSeconds*1000) {
				t.Errorf("duration alarm threshold = %v ms, want 80%% of the %d s timeout", a["Threshold"], e.TimeoutSeconds)
			}
		}
		if sortedKeys(got) == nil || !slices.Equal(sortedKeys(got), sortedKeys(want)) || got["AWS/Lambda Duration"] != "p99" {
			t.Errorf("alarms on %v, want exactly %v (duration on p99)", got, want)
		}
	})

	t.Run("backfill", func(t *testing.T) { checkBackfill(t, s) })
	t.Run("cdk-nag", func(t *testing.T) { checkNag(t, s.stack) })
}

// statement is an IAM statement rendered for comparison.
type statement struct {
	Actions, Resources []string
	Condition          string // rendered JSON; "" for none
}

// functionRole names what the function's role is about in one template.
type functionRole struct {
	role, source, destination, queue, logGroup string // logical id of the role; ARNs as render spells them
}

// functionRoleOf finds the function's role and what it works on in s's template.
func functionRoleOf(t *testing.T, s *synthesized) functionRole {
	t.Helper()
	_, fn := only(t, s.doc, "AWS::Lambda::Function", func(p map[string]any) bool { return p["Handler"] == "bootstrap" })
	env, _ := path(fn, "Environment", "Variables").(map[string]any)
	queueID, _ := only(t, s.doc, "AWS::SQS::Queue", func(map[string]any) bool { return true })
	return functionRole{
		role:        strings.TrimSuffix(strings.TrimPrefix(render(fn["Role"]), "${"), ".Arn}"),
		source:      bucketARN(env[config.EnvSourceBucket]),
		destination: bucketARN(env[config.EnvDestinationBucket]),
		queue:       "${" + queueID + ".Arn}",
		logGroup:    strings.TrimSuffix(render(path(fn, "LoggingConfig", "LogGroup")), "}") + ".Arn}",
	}
}

// roleProblems lists every way the function's role differs from exactly the
// statements it needs, by Sid: a missing or extra statement, a broader action,
// resource or condition, a statement that is not a plain Allow, a managed policy.
func roleProblems(doc map[string]any, e envconfig.Environment, r functionRole) []string {
	c := e.Compression
	listUnder := func(prefix string) string { return `{"StringLike":{"s3:prefix":"` + prefix + `*"}}` }
	want := map[string]statement{
		"ReadUploads":      {Actions: []string{"s3:GetObject"}, Resources: []string{r.source + "/" + c.SourcePrefix + "*"}},
		"ListUploads":      {Actions: []string{"s3:ListBucket"}, Resources: []string{r.source}, Condition: listUnder(c.SourcePrefix)},
		"ReadWriteOutputs": {Actions: []string{"s3:GetObject", "s3:PutObject"}, Resources: []string{r.destination + "/" + c.DestinationPrefix + "*"}},
		"ListOutputs":      {Actions: []string{"s3:ListBucket"}, Resources: []string{r.destination}, Condition: listUnder(c.DestinationPrefix)},
		"ReportFailures":   {Actions: []string{"sqs:SendMessage"}, Resources: []string{r.queue}},
		"WriteLogs":        {Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resources: []string{r.logGroup}},
	}
	var problems []string
	if e.Encryption == envconfig.EncryptionKMS {
		keys := sortedKeys(resourcesOf(doc, "AWS::KMS::Key"))
		if len(keys) != 1 {
			problems = append(problems, fmt.Sprintf("KMS keys %v, want the stack's one key", keys))
		} else {
			want["UseStackKey"] = statement{Actions: []string{"kms:Decrypt", "kms:GenerateDataKey"}, Resources: []string{"${" + keys[0] + ".Arn}"}}
		}
	}
	if e.SourceBucketKeyArn != "" {
		want["DecryptUploads"] = statement{Actions: []string{"kms:Decrypt"}, Resources: []string{e.SourceBucketKeyArn}}
	}
	if e.DestinationBucketKeyArn != "" {
		want["EncryptOutputs"] = statement{Actions: []string{"kms:GenerateDataKey"}, Resources: []string{e.DestinationBucketKeyArn}}
	}
	if c.MirrorDeletes {
		want["DeleteOutputs"] = statement{Actions: []string{"s3:DeleteObject"}, Resources: []string{r.destination + "/" + c.DestinationPrefix + "*"}}
	}

	return append(problems, statementProblems(doc, r.role, want)...)
}

// statementProblems lists every way the policies of role differ from exactly
// the statements of want, by Sid: a missing or extra statement, a broader
// action, resource or condition, a statement that is not a plain Allow, a
// managed policy.
func statementProblems(doc map[string]any, role string, want map[string]statement) []string {
	var problems []string
	if arns := path(doc, "Resources", role, "Properties", "ManagedPolicyArns"); arns != nil {
		problems = append(problems, fmt.Sprintf("managed policies %v, want none", render(arns)))
	}
	got := map[string]statement{}
	for i, st := range statements(doc, role) {
		sid, _ := st["Sid"].(string)
		if sid == "" || st["Effect"] != "Allow" || st["NotAction"] != nil || st["NotResource"] != nil {
			problems = append(problems, fmt.Sprintf("statement %d = %s: want a plain Allow with a Sid", i, render(st)))
		}
		if _, dup := got[sid]; dup {
			problems = append(problems, fmt.Sprintf("two statements with Sid %q", sid))
		}
		g := statement{Actions: list(st["Action"]), Resources: list(st["Resource"])}
		if st["Condition"] != nil {
			g.Condition = render(st["Condition"])
		}
		slices.Sort(g.Actions)
		slices.Sort(g.Resources)
		got[sid] = g
	}
	for _, sid := range sortedKeys(want) {
		if g, ok := got[sid]; !ok {
			problems = append(problems, fmt.Sprintf("no statement %s; want %+v", sid, want[sid]))
		} else if !reflect.DeepEqual(g, want[sid]) {
			problems = append(problems, fmt.Sprintf("statement %s = %+v\nwant %+v", sid, g, want[sid]))
		}
	}
	for _, sid := range sortedKeys(got) {
		if _, ok := want[sid]; !ok {
			problems = append(problems, fmt.Sprintf("statement %s %+v is more than the role needs", sid, got[sid]))
		}
	}
	return problems
}

// TestRoleCheckCatchesBroaderGrants proves roleProblems is not vacuous: each
// change below to a sound template must be reported.
func TestRoleCheckCatchesBroaderGrants(t *testing.T) {
	s := synth(t, variant("defaults", func(*envconfig.Environment) {}))
	r := functionRoleOf(t, s)
	if problems := roleProblems(s.doc, s.env, r); len(problems) != 0 {
		t.Fatalf("the defaults' role: %v; want no problem", problems)
	}
	// The role's one inline policy document.
	policy := func(doc map[string]any) map[string]any {
		policies, _ := path(doc, "Resources", r.role, "Properties", "Policies").([]any)
		if len(policies) != 1 {
			t.Fatalf("role %s has inline policies %v, want one", r.role, policies)
		}
		return path(policies[0], "PolicyDocument").(map[string]any)
	}
	bySid := func(doc map[string]any, sid string) map[string]any {
		for _, st := range policyStatements(policy(doc)) {
			if st["Sid"] == sid {
				return st
			}
		}
		t.Fatalf("no statement %s in %v", sid, policy(doc))
		return nil
	}
	cases := map[string]func(doc map[string]any){
		"an extra action": func(doc map[string]any) {
			bySid(doc, "ReadWriteOutputs")["Action"] = []any{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
		},
		"a wildcard action":      func(doc map[string]any) { bySid(doc, "ReadUploads")["Action"] = "s3:GetObject*" },
		"a wider resource":       func(doc map[string]any) { bySid(doc, "ReadUploads")["Resource"] = "*" },
		"no prefix condition":    func(doc map[string]any) { delete(bySid(doc, "ListUploads"), "Condition") },
		"a missing statement":    func(doc map[string]any) { bySid(doc, "WriteLogs")["Sid"] = "ReportFailures" },
		"a statement without id": func(doc map[string]any) { delete(bySid(doc, "WriteLogs"), "Sid") },
		"a deny":                 func(doc map[string]any) { bySid(doc, "WriteLogs")["Effect"] = "Deny" },
		"an extra statement": func(doc map[string]any) {
			pd := policy(doc)
			pd["Statement"] = append(pd["Statement"].([]any), map[string]any{"Sid": "Extra", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": "*"})
		},
		"an attached policy": func(doc map[string]any) {
			path(doc, "Resources").(map[string]any)["Planted"] = map[string]any{"Type": "AWS::IAM::Policy", "Properties": map[string]any{
				"Roles":          []any{map[string]any{"Ref": r.role}},
				"PolicyDocument": map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}},
			}}
		},
		"a managed policy": func(doc map[string]any) {
			path(doc, "Resources", r.role, "Properties").(map[string]any)["ManagedPolicyArns"] = []any{"arn:aws:iam::aws:policy/AmazonS3FullAccess"}
		},
	}
	expectReported(t, s.doc, "role", cases, func(doc map[string]any) []string { return roleProblems(doc, s.env, r) })
}

// expectReported plants each case in its own copy of doc and expects check
// to report it: what (the thing checked) with the case must not pass.
func expectReported(t *testing.T, doc map[string]any, what string, cases map[string]func(doc map[string]any), check func(doc map[string]any) []string) {
	t.Helper()
	for name, plant := range cases {
		t.Run(name, func(t *testing.T) {
			planted := cloneJSON(t, doc)
			plant(planted)
			if problems := check(planted); len(problems) == 0 {
				t.Errorf("%s with %s was accepted; want it reported", what, name)
			}
		})
	}
}

// bucketARN is the ARN of the bucket that a template value names: a Ref to a
// bucket of the stack, or an imported bucket's name.
func bucketARN(v any) string {
	if s, ok := v.(string); ok {
		return "arn:aws:s3:::" + s
	}
	return strings.TrimSuffix(render(v), "}") + ".Arn}"
}

// An output the layer's ImageMagick cannot write stops the synth, naming the
// entry: an AVIF output needs the layer's AV1 encoder, which the layer's
// policy allows writing with. The policy here stands in for the layer's.
func TestOutputsTheLayerCannotWrite(t *testing.T) {
	e := variant("avif", func(e *envconfig.Environment) {
		e.Compression.Outputs = []config.Output{{Format: config.Original}, {Format: "avif", MaxWidth: 640, Suffix: "-640"}}
	})
	for _, tc := range []struct {
		name, rules string
		refused     bool
	}{
		{"decoders only", `<policy domain="coder" rights="none" pattern="*"/><policy domain="coder" rights="read" pattern="{HEIC,HEIF,AVIF}"/>`, true},
		{"all denied", `<policy domain="coder" rights="none" pattern="*"/>`, true},
		{"an AV1 encoder", `<policy domain="coder" rights="none" pattern="*"/><policy domain="coder" rights="read | write" pattern="AVIF"/>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			policy := filepath.Join(dir, compressor.LayerPolicy)
			if err := os.MkdirAll(filepath.Dir(policy), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(policy, []byte("<policymap>"+tc.rules+"</policymap>"), 0o644); err != nil {
				t.Fatal(err)
			}
			// Without the rest of the build context the synth fails later
			// anyway; only the refusal matters here.
			_, err := compressor.NewStack(newApp(t, nil), compressor.StackName(e.Name), &compressor.StackProps{Environment: e, BuildContext: dir})
			refused := err != nil && strings.Contains(err.Error(), "outputs[1] (avif-640 (max 640 x any)): the ImageMagick layer cannot write avif")
			if refused != tc.refused {
				t.Errorf("NewStack = %v; want refused: %v", err, tc.refused)
			}
		})
	}
}

// A template synthesized with skipBundling=true carries a rule that
// CloudFormation can never satisfy, so it cannot be deployed by mistake.
func TestSkipBundlingTemplateIsNotDeployable(t *testing.T) {
	e := variant("skipped", func(*envconfig.Environment) {})
	_, tpl := build(t, e.Name, func() (awscdk.Stack, error) {
		stack, err := compressor.NewStack(newApp(t, nil), compressor.StackName(e.Name), &compressor.StackProps{Environment: e, BuildContext: repoRoot})
		if err == nil {
			compressor.MarkNotDeployable(stack)
		}
		return stack, err
	})
	rule := path(*tpl.ToJSON(), "Rules", compressor.NotDeployableRule)
	assertion, _ := path(rule, "Assertions").([]any)
	if len(assertion) != 1 {
		t.Fatalf("rule %s = %v, want one assertion", compressor.NotDeployableRule, rule)
	}
	eq, _ := path(assertion[0], "Assert", "Fn::Equals").([]any)
	if len(eq) != 2 || eq[0] == eq[1] {
		t.Errorf("assertion = %v, want Fn::Equals of two different constants (never true)", assertion[0])
	}
}

// Every retention envconfig accepts has its CDK value, and the values differ.
func TestLogRetentionCoversEnvconfig(t *testing.T) {
	seen := map[string]int{}
	for _, days := range envconfig.LogRetentionDays {
		r, err := compressor.LogRetention(days)
		if err != nil {
			t.Errorf("LogRetention(%d): %v", days, err)
			continue
		}
		if other, dup := seen[string(r)]; dup {
			t.Errorf("LogRetention(%d) = LogRetention(%d) = %s", days, other, r)
		}
		seen[string(r)] = days
	}
	if _, err := compressor.LogRetention(10); err == nil {
		t.Error("LogRetention(10) succeeded; CloudWatch has no 10-day retention")
	}
}
