// Package envconfig is the typed form of the deployment environments in cdk.json
// ("environments" in the context). The app reads it once, in main; constructs get
// the values they need and never read context themselves.
//
// It imports no CDK package, so its rules are tested without starting jsii.
package envconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
)

// Context keys the app reads. Values given with `cdk -c key=value` arrive as strings.
const (
	ContextEnvironments = "environments" // object: environment name -> Environment
	ContextEnv          = "env"          // optional: synthesize only this environment
	ContextSkipBundling = "skipBundling" // "true": no Docker; the output must not be deployed
	// Object of Dockerfile ARG name -> value for the layer and function builds, in cdk.json
	// or as -c dockerBuildArgs='{"IMAGEMAGICK_URL":"..."}'.
	ContextDockerBuildArgs = "dockerBuildArgs"
)

// Architectures are the Lambda architectures the layer's Dockerfile can target.
const (
	ArchARM64  = "arm64"
	ArchX86_64 = "x86_64"
)

// Removal policies for the stateful resources (buckets the stack creates, queues,
// log groups, the KMS key).
const (
	RemovalRetain  = "retain"
	RemovalDestroy = "destroy"
)

// Encryption of the buckets and queues the stack creates.
const (
	EncryptionS3Managed = "s3-managed" // SSE-S3 / SSE-SQS
	EncryptionKMS       = "kms"        // one customer-managed key per stack, rotated yearly
)

// LogRetentionDays are the values CloudWatch Logs accepts for a retention period.
var LogRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Lambda's limits for a function's memory size (MB) and timeout (seconds).
const (
	MinMemoryMB       = 128
	MaxMemoryMB       = 10240
	MaxTimeoutSeconds = 900
)

// MaxSettingsBytes bounds the compression settings as JSON: Lambda allows 4 KB
// for all environment variables, and the bucket names and the queue URL need
// the rest.
const MaxSettingsBytes = 3 << 10

// Location is where a stack is deployed. Both fields empty make a stack
// environment-agnostic: it goes wherever the credentials point.
type Location struct {
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
}

// Environment is one deployment of the stack. Zero values mean "default" except
// where noted; Parse fills the defaults in.
type Environment struct {
	Name string `json:"-"` // the key in cdk.json

	// Location pins the stack; left empty, the stack is environment-agnostic.
	Location

	// SourceBucketName and DestinationBucketName import existing buckets instead of
	// creating them. Imported buckets keep their own encryption, versioning and
	// logging; the stack only adds the notification and the function's grants.
	SourceBucketName      string `json:"sourceBucketName"`
	DestinationBucketName string `json:"destinationBucketName"`
	// SourceBucketKeyArn and DestinationBucketKeyArn name the customer-managed KMS
	// key an imported bucket encrypts with, so the function may decrypt what it
	// reads and generate data keys for what it writes. Buckets the stack creates
	// use the stack's own key (Encryption) instead.
	SourceBucketKeyArn      string `json:"sourceBucketKeyArn"`
	DestinationBucketKeyArn string `json:"destinationBucketKeyArn"`
	Encryption              string `json:"encryption"`

	MemorySize     int    `json:"memorySize"`     // MB
	TimeoutSeconds int    `json:"timeoutSeconds"` // per invocation
	Architecture   string `json:"architecture"`
	// ReservedConcurrency caps parallel invocations (and so parallel ImageMagick
	// runs); nil leaves the function on the account's unreserved pool, the only
	// setting that deploys in a new account (Lambda keeps 100 of the account's
	// concurrency unreserved, and a new account's quota is often 10).
	ReservedConcurrency *int `json:"reservedConcurrency"`

	LogRetentionDays int    `json:"logRetentionDays"`
	RemovalPolicy    string `json:"removalPolicy"`
	AlarmEmail       string `json:"alarmEmail"` // optional: subscribed to the alarm topic

	// Inventory adds a daily S3 Inventory of the uploads under the source
	// prefix, so the backfill of a bucket too big to list finds its manifest
	// ready (backfill -manifest inventory).
	Inventory bool `json:"inventory"`

	// Compression is the function's configuration; cdk.json names only what
	// differs from config.Default().
	Compression config.Settings `json:"compression"`
}

// Default is the environment a cdk.json entry gets for every key it omits.
func Default(name string) Environment {
	return Environment{
		Name:             name,
		Encryption:       EncryptionS3Managed,
		MemorySize:       256,
		TimeoutSeconds:   600,
		Architecture:     ArchARM64,
		LogRetentionDays: 30,
		RemovalPolicy:    RemovalRetain,
		Compression:      config.Default(),
	}
}

// MaxNameLength bounds an environment's name. The longest name made from it is
// the GitHub deploy role's, s3-image-compressor-github-deploy-NAME (infra/github),
// and IAM allows 64 characters; stack names (ImageCompressor-NAME) allow more.
const MaxNameLength = 30

var (
	// Lower-case words joined by single hyphens: the name is part of stack ids,
	// IAM role names, construct ids and repository variables (DEPLOY_ROLE_ARN_NAME).
	namePattern    = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)
	// S3's bucket naming rules, minus the rarer ones S3 itself reports clearly.
	bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// A key ARN, not an alias ARN: IAM grants on an alias do not reach its key.
	keyArnPattern = regexp.MustCompile(`^arn:aws(-[a-z]+)*:kms:[a-z]{2}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:key/([0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)
)

// ValidateName checks an environment's name: the one naming rule for the
// environments and the GitHub block of cdk.json.
func ValidateName(name string) error {
	if !namePattern.MatchString(name) || len(name) > MaxNameLength {
		return fmt.Errorf("name %q: want at most %d lower-case letters and digits, starting with a letter, words joined by single hyphens (it becomes part of stack and IAM role names)", name, MaxNameLength)
	}
	return nil
}

// Validate checks the fields that are set; either may be empty.
func (l Location) Validate() error {
	var errs []error
	if l.Account != "" && !accountPattern.MatchString(l.Account) {
		errs = append(errs, fmt.Errorf("account %q: want an AWS account id (12 digits)", l.Account))
	}
	if l.Region != "" && !regionPattern.MatchString(l.Region) {
		errs = append(errs, fmt.Errorf("region %q: want a region code such as \"eu-west-1\"", l.Region))
	}
	return errors.Join(errs...)
}

// Validate reports everything wrong with e, each message naming the key to fix.
func (e Environment) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if err := ValidateName(e.Name); err != nil {
		errs = append(errs, err)
	}
	if err := e.Location.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, b := range []struct{ role, name, keyArn string }{
		{"source", e.SourceBucketName, e.SourceBucketKeyArn},
		{"destination", e.DestinationBucketName, e.DestinationBucketKeyArn},
	} {
		if b.name != "" && !bucketPattern.MatchString(b.name) {
			bad("%sBucketName %q is not a valid S3 bucket name", b.role, b.name)
		}
		switch {
		case b.keyArn == "":
		case b.name == "":
			bad("%sBucketKeyArn is set but %sBucketName is not: a bucket the stack creates uses the stack's own encryption (encryption)", b.role, b.role)
		case !keyArnPattern.MatchString(b.keyArn):
			bad("%sBucketKeyArn %q: want a KMS key ARN, arn:aws:kms:REGION:ACCOUNT:key/KEY-ID (an alias ARN does not grant use of its key)", b.role, b.keyArn)
		}
	}
	if e.SourceBucketName != "" && e.SourceBucketName == e.DestinationBucketName {
		bad("sourceBucketName and destinationBucketName are both %q: outputs must go to a separate bucket, or every output would be a new upload", e.SourceBucketName)
	}
	if e.Inventory && e.SourceBucketName != "" {
		bad("inventory is true but sourceBucketName imports %q: the stack can configure S3 Inventory only on a bucket it creates; "+
			"backfill an imported bucket with -manifest generated or list", e.SourceBucketName)
	}
	if !slices.Contains([]string{EncryptionS3Managed, EncryptionKMS}, e.Encryption) {
		bad("encryption %q: want %q or %q", e.Encryption, EncryptionS3Managed, EncryptionKMS)
	}
	if e.MemorySize < MinMemoryMB || e.MemorySize > MaxMemoryMB {
		bad("memorySize %d: Lambda allows %d..%d MB", e.MemorySize, MinMemoryMB, MaxMemoryMB)
	}
	if e.TimeoutSeconds < 1 || e.TimeoutSeconds > MaxTimeoutSeconds {
		bad("timeoutSeconds %d: Lambda allows 1..%d", e.TimeoutSeconds, MaxTimeoutSeconds)
	}
	if !slices.Contains([]string{ArchARM64, ArchX86_64}, e.Architecture) {
		bad("architecture %q: want %q or %q", e.Architecture, ArchARM64, ArchX86_64)
	}
	if r := e.ReservedConcurrency; r != nil && *r < 1 {
		bad("reservedConcurrency %d: 0 would throttle every upload; omit the key for no reservation", *r)
	}
	if !slices.Contains(LogRetentionDays, e.LogRetentionDays) {
		bad("logRetentionDays %d: CloudWatch Logs accepts one of %v", e.LogRetentionDays, LogRetentionDays)
	}
	if !slices.Contains([]string{RemovalRetain, RemovalDestroy}, e.RemovalPolicy) {
		bad("removalPolicy %q: want %q or %q", e.RemovalPolicy, RemovalRetain, RemovalDestroy)
	}
	if e.AlarmEmail != "" && !strings.Contains(strings.Trim(e.AlarmEmail, "@"), "@") {
		bad("alarmEmail %q is not an e-mail address", e.AlarmEmail)
	}
	if err := e.Compression.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("compression: %w", err))
	}
	// Settings is plain strings, numbers and booleans: it always marshals.
	if doc, _ := json.Marshal(e.Compression); len(doc) > MaxSettingsBytes {
		bad("compression: %d bytes as JSON; the function's environment holds at most %d", len(doc), MaxSettingsBytes)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("environment %q in cdk.json: %w", e.Name, err)
	}
	return nil
}

// Parse reads the "environments" object of cdk.json: each entry over Default,
// unknown keys rejected (a misspelt key must not silently fall back to a default).
// The result is sorted by name.
func Parse(doc []byte) ([]Environment, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("%q in cdk.json must be an object of named environments: %w", ContextEnvironments, err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%q in cdk.json names no environment", ContextEnvironments)
	}
	var envs []Environment
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		e := Default(name)
		dec := json.NewDecoder(bytes.NewReader(raw[name]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			errs = append(errs, fmt.Errorf("environment %q in cdk.json: %w", name, err))
			continue
		}
		if err := e.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		envs = append(envs, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return envs, nil
}

// App is what the CDK app needs from its context.
type App struct {
	// Environments to synthesize: all of cdk.json, or the one named by -c env=NAME.
	Environments []Environment
	// SkipBundling leaves the Docker builds out; such a cloud assembly must not be deployed.
	SkipBundling bool
	// DockerBuildArgs are passed to the Docker builds as --build-arg NAME=VALUE.
	DockerBuildArgs map[string]string
}

// FromContext reads the app's context through lookup (the app's TryGetContext in
// main, a map in tests), which returns nil for a missing key.
func FromContext(lookup func(key string) any) (App, error) {
	// Context values come back from jsii as generic JSON values; a round trip
	// through encoding/json gives them their types and the strict decoding above.
	doc, err := json.Marshal(lookup(ContextEnvironments))
	if err != nil {
		return App{}, fmt.Errorf("context %q: %w", ContextEnvironments, err)
	}
	envs, err := Parse(doc)
	if err != nil {
		return App{}, err
	}
	skip, err := flag(lookup(ContextSkipBundling))
	if err != nil {
		return App{}, fmt.Errorf("context %q: %w", ContextSkipBundling, err)
	}
	buildArgs, err := stringMap(lookup(ContextDockerBuildArgs))
	if err != nil {
		return App{}, fmt.Errorf("context %q: %w", ContextDockerBuildArgs, err)
	}
	app := App{Environments: envs, SkipBundling: skip, DockerBuildArgs: buildArgs}

	switch want := lookup(ContextEnv).(type) {
	case nil:
	case string:
		e, err := Lookup(envs, want)
		if err != nil {
			return App{}, fmt.Errorf("%w (-c %s=...)", err, ContextEnv)
		}
		app.Environments = []Environment{e}
	default:
		return App{}, fmt.Errorf("context %q must be an environment name, got %v", ContextEnv, want)
	}
	return app, nil
}

// FromCDKJSON reads the environments of a cdk.json file, as the app sees them
// in its context, for programs that run outside the CDK (the backfill command).
func FromCDKJSON(doc []byte) ([]Environment, error) {
	var cdk struct {
		Context map[string]json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(doc, &cdk); err != nil {
		return nil, fmt.Errorf("cdk.json: %w", err)
	}
	return Parse(cdk.Context[ContextEnvironments])
}

// Lookup returns the environment called name.
func Lookup(envs []Environment, name string) (Environment, error) {
	i := slices.IndexFunc(envs, func(e Environment) bool { return e.Name == name })
	if i < 0 {
		return Environment{}, fmt.Errorf("unknown environment %q: cdk.json defines %s", name, strings.Join(Names(envs), ", "))
	}
	return envs[i], nil
}

// Names lists the environments' names in order.
func Names(envs []Environment) []string {
	names := make([]string, len(envs))
	for i, e := range envs {
		names[i] = e.Name
	}
	return names
}

// stringMap accepts a JSON object of strings: as cdk.json holds it, or as the JSON text -c
// gives.
func stringMap(v any) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	doc, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		doc = string(b)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		return nil, fmt.Errorf(`want an object of names to strings, e.g. {"IMAGEMAGICK_URL":"https://..."}: %w`, err)
	}
	return m, nil
}

// flag accepts what -c gives ("true"/"false") and what cdk.json may hold (a boolean).
func flag(v any) (bool, error) {
	switch v {
	case nil, false, "false":
		return false, nil
	case true, "true":
		return true, nil
	}
	return false, fmt.Errorf("want true or false, got %v", v)
}
