package github

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

// GitHub Actions' token issuer and the audience aws-actions/configure-aws-credentials asks for.
const (
	Issuer   = "token.actions.githubusercontent.com"
	Audience = "sts.amazonaws.com"
)

// OIDCStackProps configures the stack of one AWS account.
type OIDCStackProps struct {
	awscdk.StackProps
	// Config is the whole `github` configuration; the stack serves its environments in Account.
	Config Config
	// Account must be the account of at least one environment. The stack is deployed
	// there (in the region of the first such environment) unless StackProps.Env says otherwise.
	Account string
}

// NewStacks adds one OIDC stack per AWS account named in cfg: an account holds the
// GitHub provider only once, and IAM roles live in the account they give access to.
func NewStacks(scope constructs.Construct, cfg Config) ([]awscdk.Stack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var accounts []string
	for _, name := range cfg.EnvironmentNames() {
		if a := cfg.Environments[name].Account; !slices.Contains(accounts, a) {
			accounts = append(accounts, a)
		}
	}
	stacks := make([]awscdk.Stack, 0, len(accounts))
	for _, a := range accounts {
		s, err := NewOIDCStack(scope, StackID(a), &OIDCStackProps{Config: cfg, Account: a})
		if err != nil {
			return nil, err
		}
		stacks = append(stacks, s)
	}
	return stacks, nil
}

// NewStacksFromContext adds NewStacks for the `github` object of the app's context,
// read through lookup (the app's TryGetContext), whose environments are among envs
// (all of cdk.json's); without a `github` object it adds nothing.
func NewStacksFromContext(scope constructs.Construct, lookup func(key string) any, envs []envconfig.Environment) ([]awscdk.Stack, error) {
	raw := lookup(ContextKey)
	if raw == nil {
		return nil, nil
	}
	cfg, err := ParseConfig(raw, envs)
	if err != nil {
		return nil, err
	}
	return NewStacks(scope, cfg)
}

// StackID is the id (and CloudFormation stack name) of the OIDC stack of account.
func StackID(account string) string {
	return "ImageCompressorGitHub-" + account
}

// NewOIDCStack creates the GitHub OIDC provider of props.Account (or imports it when
// the account is listed in ExistingProviderAccounts) and a diff and a deploy role
// for every environment in that account.
func NewOIDCStack(scope constructs.Construct, id string, props *OIDCStackProps) (awscdk.Stack, error) {
	if props == nil {
		return nil, fmt.Errorf("github stack %s: props are required (repository and environments)", id)
	}
	cfg := props.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var envs []string
	for _, name := range cfg.EnvironmentNames() {
		if cfg.Environments[name].Account == props.Account {
			envs = append(envs, name)
		}
	}
	if len(envs) == 0 {
		return nil, fmt.Errorf("github stack %s: no environment is in account %q", id, props.Account)
	}
	sp := props.StackProps
	if sp.Env == nil {
		sp.Env = &awscdk.Environment{Account: jsii.String(props.Account), Region: jsii.String(cfg.Environments[envs[0]].Region)}
	}
	if sp.TerminationProtection == nil {
		// Deleting this stack locks every workflow out; make it a deliberate act.
		sp.TerminationProtection = jsii.Bool(true)
	}
	if sp.Description == nil {
		sp.Description = jsii.String(fmt.Sprintf("GitHub Actions OIDC roles for %s/%s: diff and deploy per environment (%s)",
			cfg.Owner, cfg.Repo, strings.Join(envs, ", ")))
	}
	stack := awscdk.NewStack(scope, &id, &sp)
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("s3-image-compressor"), nil)
	// As on the compressor stacks: every synth, test or CLI, reports unsuppressed findings.
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)

	providerArn := newProvider(stack, slices.Contains(cfg.ExistingProviderAccounts, props.Account))
	for _, name := range envs {
		newEnvironmentRoles(stack, providerArn, cfg, name)
	}
	return stack, nil
}

// newProvider returns the ARN of the account's GitHub provider. The native
// AWS::IAM::OIDCProvider needs no custom resource and, without thumbprints, IAM
// trusts GitHub's certificate through its own CA store.
func newProvider(stack awscdk.Stack, existing bool) *string {
	if existing {
		arn := stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("iam"), Region: jsii.String(""),
			Resource: jsii.String("oidc-provider"), ResourceName: jsii.String(Issuer),
		})
		return awsiam.OidcProviderNative_FromOidcProviderArn(stack, jsii.String("Provider"), arn).OidcProviderArn()
	}
	return awsiam.NewOidcProviderNative(stack, jsii.String("Provider"), &awsiam.OidcProviderNativeProps{
		Url:       jsii.String("https://" + Issuer),
		ClientIds: jsii.Strings(Audience),
	}).OidcProviderArn()
}

// newEnvironmentRoles adds the diff and deploy role of one environment. Neither
// role may touch a resource itself: each may only assume CDK bootstrap roles,
// whose own policies bound what a diff or deploy can do.
func newEnvironmentRoles(stack awscdk.Stack, providerArn *string, cfg Config, name string) {
	e := cfg.Environments[name]
	// `cdk diff --method=template` reads the deployed template through the lookup role.
	diff := newRole(stack, providerArn, roleSpec{
		env: name, kind: "diff", subject: cfg.DiffSubject(),
		description: fmt.Sprintf("cdk diff of %s from pull requests of %s/%s (read-only: CDK lookup role only)", name, cfg.Owner, cfg.Repo),
		assumable:   bootstrapRoleArns(stack, cfg.qualifier(), e, "lookup"),
	})
	deploy := newRole(stack, providerArn, roleSpec{
		env: name, kind: "deploy", subject: cfg.DeploySubject(e),
		description: fmt.Sprintf("cdk deploy of %s from %s (CDK bootstrap roles only)", name, cfg.DeploySubject(e)),
		assumable:   bootstrapRoleArns(stack, cfg.qualifier(), e, "deploy", "file-publishing", "image-publishing", "lookup"),
	})
	for _, r := range []struct {
		role  awsiam.Role
		kind  string
		usage string
	}{{diff, "diff", "diff.yml"}, {deploy, "deploy", "deploy.yml"}} {
		awscdk.NewCfnOutput(stack, jsii.String(pascal(r.kind, "role-arn", name)), &awscdk.CfnOutputProps{
			Value:       r.role.RoleArn(),
			Description: jsii.String(fmt.Sprintf("set as repository variable %s (used by %s)", RepositoryVariable(name, r.kind), r.usage)),
		})
	}
}

type roleSpec struct {
	env, kind, subject, description string
	assumable                       []*string
}

func newRole(stack awscdk.Stack, providerArn *string, s roleSpec) awsiam.Role {
	// StringEquals, never StringLike: no value in the trust can act as a pattern.
	trust := awsiam.NewFederatedPrincipal(providerArn, &map[string]any{
		"StringEquals": map[string]any{
			Issuer + ":aud": Audience,
			Issuer + ":sub": s.subject,
		},
	}, jsii.String("sts:AssumeRoleWithWebIdentity"))
	return awsiam.NewRole(stack, jsii.String(pascal(s.kind, "role", s.env)), &awsiam.RoleProps{
		RoleName:    jsii.String(RoleName(s.env, s.kind)),
		Description: jsii.String(s.description),
		AssumedBy:   trust,
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"AssumeCdkBootstrapRoles": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
				Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions:   jsii.Strings("sts:AssumeRole"),
					Resources: &s.assumable,
				})},
			}),
		},
	})
}

// bootstrapRoleArns names the roles `cdk bootstrap` creates in e's account and region.
func bootstrapRoleArns(stack awscdk.Stack, qualifier string, e Environment, kinds ...string) []*string {
	arns := make([]*string, 0, len(kinds))
	for _, k := range kinds {
		arns = append(arns, stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("iam"), Region: jsii.String(""), Account: jsii.String(e.Account),
			Resource: jsii.String("role"), ResourceName: jsii.String(fmt.Sprintf("cdk-%s-%s-role-%s-%s", qualifier, k, e.Account, e.Region)),
		}))
	}
	return arns
}

// RoleName is the IAM role name of an environment's "diff" or "deploy" role. Fixed
// names keep the role ARNs predictable for the repository variables.
func RoleName(env, kind string) string {
	return fmt.Sprintf("s3-image-compressor-github-%s-%s", kind, env)
}

// RepositoryVariable is the GitHub repository variable the workflows read the role ARN from.
func RepositoryVariable(env, kind string) string {
	return strings.ToUpper(fmt.Sprintf("%s_ROLE_ARN_%s", kind, strings.ReplaceAll(env, "-", "_")))
}

// pascal joins hyphenated words into a construct id: "diff", "role", "dev" -> DiffRoleDev.
func pascal(words ...string) string {
	var id strings.Builder
	for _, part := range strings.Split(strings.Join(words, "-"), "-") {
		id.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return id.String()
}
