package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	"github.com/s3-image-compressor/s3-image-compressor/function/config"
	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
	"github.com/s3-image-compressor/s3-image-compressor/infra/stackoutputs"
)

// S3API is the part of *s3.Client the command calls.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// ControlAPI is the part of *s3control.Client the command calls.
type ControlAPI interface {
	CreateJob(ctx context.Context, in *s3control.CreateJobInput, opts ...func(*s3control.Options)) (*s3control.CreateJobOutput, error)
	DescribeJob(ctx context.Context, in *s3control.DescribeJobInput, opts ...func(*s3control.Options)) (*s3control.DescribeJobOutput, error)
	UpdateJobStatus(ctx context.Context, in *s3control.UpdateJobStatusInput, opts ...func(*s3control.Options)) (*s3control.UpdateJobStatusOutput, error)
}

// StacksAPI is the part of *cloudformation.Client the command calls.
type StacksAPI interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, opts ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

var (
	_ S3API      = (*s3.Client)(nil)
	_ ControlAPI = (*s3control.Client)(nil)
	_ StacksAPI  = (*cloudformation.Client)(nil)
)

// Deployment is one environment as the command works with it: what its stack
// says and the clients that reach it.
type Deployment struct {
	Name      string // the environment, or "local"
	Stack     string // what was asked for the outputs: a stack name, or the local stack's file
	Region    string
	Account   string
	Partition string // of the ARNs: aws, aws-cn, aws-us-gov
	Settings  config.Settings
	// MemoryMB and Architecture are the function's, for the cost estimate.
	MemoryMB     int
	Architecture string
	Outputs      stackoutputs.Backfill
	S3           S3API
	Control      ControlAPI
}

// Clients builds the AWS clients of a region; tests replace it.
type Clients func(ctx context.Context, region string) (StacksAPI, S3API, ControlAPI, string, error)

// AWSClients are the SDK's clients with the default credential chain.
func AWSClients(ctx context.Context, region string) (StacksAPI, S3API, ControlAPI, string, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, nil, nil, "", errors.New("no AWS region: the environment in cdk.json names none; set AWS_REGION")
	}
	return cloudformation.NewFromConfig(cfg), s3.NewFromConfig(cfg), s3control.NewFromConfig(cfg), cfg.Region, nil
}

// deployed finds e's stack and reads its outputs.
func deployed(ctx context.Context, e envconfig.Environment, clients Clients) (Deployment, error) {
	stacks, s3c, control, region, err := clients(ctx, e.Region)
	if err != nil {
		return Deployment{}, err
	}
	name := stackoutputs.StackName(e.Name)
	out, err := stacks.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		if apiCode(err) == "ValidationError" && strings.Contains(err.Error(), "does not exist") {
			return Deployment{}, fmt.Errorf("no deployed stack %s in %s: deploy environment %s first (make deploy ENV=%s)", name, region, e.Name, e.Name)
		}
		return Deployment{}, denied(err, "cloudformation:DescribeStacks", "stack "+name)
	}
	if len(out.Stacks) != 1 {
		return Deployment{}, fmt.Errorf("DescribeStacks %s in %s answered %d stacks, want 1", name, region, len(out.Stacks))
	}
	stack := out.Stacks[0]
	if !slices.Contains(usableStatuses, stack.StackStatus) {
		return Deployment{}, fmt.Errorf("stack %s in %s is %s: wait for its deployment to finish, or fix it, first", name, region, stack.StackStatus)
	}
	outputs := map[string]string{}
	for _, o := range stack.Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	b, err := stackoutputs.FromOutputs(outputs)
	if err != nil {
		return Deployment{}, fmt.Errorf("stack %s in %s: %w", name, region, err)
	}
	role, err := arn.Parse(b.RoleArn)
	if err != nil {
		return Deployment{}, fmt.Errorf("stack %s: output %s %q: %w", name, stackoutputs.BatchRoleArn, b.RoleArn, err)
	}
	return Deployment{
		Name: e.Name, Stack: name, Region: region, Account: role.AccountID, Partition: role.Partition,
		Settings: e.Compression, MemoryMB: e.MemorySize, Architecture: e.Architecture,
		Outputs: b, S3: s3c, Control: control,
	}, nil
}

// usableStatuses are the states of a stack whose outputs describe what runs.
var usableStatuses = []cfntypes.StackStatus{
	cfntypes.StackStatusCreateComplete, cfntypes.StackStatusUpdateComplete,
	cfntypes.StackStatusUpdateRollbackComplete, cfntypes.StackStatusImportComplete,
}

// LocalStack is the file the local stack (make local) writes into its state
// directory while it runs: its outputs, as CloudFormation would give them, and
// how to reach its S3 and its stand-in for S3 Batch Operations.
type LocalStack struct {
	Outputs         map[string]string `json:"outputs"`
	Settings        config.Settings   `json:"settings"`
	MemoryMB        int               `json:"memoryMB"`
	Architecture    string            `json:"architecture"`
	Region          string            `json:"region"`
	Account         string            `json:"account"`
	S3Endpoint      string            `json:"s3Endpoint"`
	ControlEndpoint string            `json:"s3ControlEndpoint"`
	AccessKey       string            `json:"accessKey"`
	SecretKey       string            `json:"secretKey"`
}

// LocalStackFile is the name of that file in the state directory.
const LocalStackFile = "backfill.json"

// local reads the local stack's file and builds clients for it. The clients
// are the SDK's, pointed at the local endpoints: the command works against
// the local stack exactly as against AWS.
func local(ctx context.Context, file string) (Deployment, error) {
	doc, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return Deployment{}, fmt.Errorf("no local stack: %s does not exist; start one with make local", file)
	}
	if err != nil {
		return Deployment{}, err
	}
	var l LocalStack
	if err := json.Unmarshal(doc, &l); err != nil {
		return Deployment{}, fmt.Errorf("%s: %w", file, err)
	}
	b, err := stackoutputs.FromOutputs(l.Outputs)
	if err != nil {
		return Deployment{}, fmt.Errorf("%s: %w", file, err)
	}
	control, err := url.Parse(l.ControlEndpoint)
	if err != nil || control.Host == "" {
		return Deployment{}, fmt.Errorf("%s: s3ControlEndpoint %q is not a URL", file, l.ControlEndpoint)
	}
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: l.AccessKey, SecretAccessKey: l.SecretKey, Source: file}, nil
	})
	s3c := s3.New(s3.Options{Region: l.Region, BaseEndpoint: aws.String(l.S3Endpoint), UsePathStyle: true, Credentials: creds})
	d := Deployment{
		Name: "local", Stack: file, Region: l.Region, Account: l.Account, Partition: "aws",
		Settings: l.Settings, MemoryMB: l.MemoryMB, Architecture: l.Architecture,
		Outputs: b, S3: s3c,
		Control: s3control.New(s3control.Options{
			Region: l.Region, Credentials: creds,
			// S3 Control puts the account id into the host name
			// (ACCOUNT.s3-control.REGION...), which 127.0.0.1 cannot take.
			EndpointResolverV2: fixedEndpoint{*control},
		}),
	}
	// A file left by a stack that has stopped points at nothing.
	if _, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(b.SourceBucket), MaxKeys: aws.Int32(1)}); err != nil {
		return Deployment{}, fmt.Errorf("the local stack of %s does not answer at %s (%v): start it with make local", file, l.S3Endpoint, err)
	}
	return d, nil
}

// fixedEndpoint resolves every S3 Control request to one URL.
type fixedEndpoint struct{ url url.URL }

func (f fixedEndpoint) ResolveEndpoint(context.Context, s3control.EndpointParameters) (smithyendpoints.Endpoint, error) {
	return smithyendpoints.Endpoint{URI: f.url}, nil
}
