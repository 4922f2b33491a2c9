package infra_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
	"github.com/s3-image-compressor/s3-image-compressor/infra/github"
)

// githubTestConfig mirrors a typical set-up: dev and prod in separate accounts,
// prod's account already holding the GitHub provider.
func githubTestConfig() github.Config {
	return github.Config{
		Owner: "acme", Repo: "widgets",
		ExistingProviderAccounts: []string{"222222222222"},
		Environments: map[string]github.Environment{
			"dev":  {Location: envconfig.Location{Account: "111111111111", Region: "eu-west-1"}, DeployBranch: "main"},
			"prod": {Location: envconfig.Location{Account: "222222222222", Region: "eu-central-1"}, DeployEnvironment: "prod"},
		},
	}
}

// githubSynth synthesizes NewStacks(cfg) in an app with cdk.json's context (newApp),
// by stack name.
func githubSynth(t *testing.T, cfg github.Config) map[string]*synthesized {
	t.Helper()
	built := buildAll(t, "github", func() ([]awscdk.Stack, error) { return github.NewStacks(newApp(t, nil), cfg) })
	out := map[string]*synthesized{}
	for _, s := range built {
		out[*s.stack.StackName()] = s
	}
	return out
}

func TestGitHubStackSnapshot(t *testing.T) {
	templates := githubSynth(t, githubTestConfig())
	want := []string{"ImageCompressorGitHub-111111111111", "ImageCompressorGitHub-222222222222"}
	if got := slices.Sorted(maps.Keys(templates)); !slices.Equal(got, want) {
		t.Fatalf("stacks = %v, want one per account %v", got, want)
	}
	for _, id := range want {
		checkSnapshot(t, "github-"+strings.TrimPrefix(id, "ImageCompressorGitHub-")+".json", templates[id].doc)
	}
}

func TestGitHubTrustPolicies(t *testing.T) {
	cfg := githubTestConfig()
	templates := githubSynth(t, cfg)
	// Expected values are spelled out, not derived from the code under test.
	wantSub := map[string]string{
		"s3-image-compressor-github-diff-dev":    "repo:acme/widgets:pull_request",
		"s3-image-compressor-github-deploy-dev":  "repo:acme/widgets:ref:refs/heads/main",
		"s3-image-compressor-github-diff-prod":   "repo:acme/widgets:pull_request",
		"s3-image-compressor-github-deploy-prod": "repo:acme/widgets:environment:prod",
	}
	gotSub := map[string]string{}
	for id, s := range templates {
		for _, problem := range githubTrustProblems(s.doc, "acme", "widgets") {
			t.Errorf("%s: %s", id, problem)
		}
		for _, r := range resourcesOf(s.doc, "AWS::IAM::Role") {
			name, _ := r["RoleName"].(string)
			for _, st := range policyStatements(r["AssumeRolePolicyDocument"]) {
				if sub, ok := path(st, "Condition", "StringEquals", "token.actions.githubusercontent.com:sub").(string); ok {
					gotSub[name] = sub
				}
			}
		}
	}
	for role, want := range wantSub {
		if gotSub[role] != want {
			t.Errorf("role %s trusts sub %q, want exactly %q", role, gotSub[role], want)
		}
	}
	if len(gotSub) != len(wantSub) {
		t.Errorf("roles with a GitHub trust: %v, want exactly %v", slices.Sorted(maps.Keys(gotSub)), slices.Sorted(maps.Keys(wantSub)))
	}
}

// TestGitHubTrustCheckCatchesWideTrust proves githubTrustProblems is not vacuous:
// each document below must be reported.
func TestGitHubTrustCheckCatchesWideTrust(t *testing.T) {
	federated := map[string]any{"Federated": "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"}
	aud := map[string]any{"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
	stmt := func(cond map[string]any) map[string]any {
		return map[string]any{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": federated, "Condition": cond}
	}
	with := func(m map[string]any, k string, v any) map[string]any {
		out := map[string]any{k: v}
		for kk, vv := range m {
			out[kk] = vv
		}
		return out
	}
	cases := map[string]map[string]any{
		"any repo (StringLike)":     stmt(map[string]any{"StringEquals": aud, "StringLike": map[string]any{"token.actions.githubusercontent.com:sub": "repo:*"}}),
		"wildcard owner":            stmt(map[string]any{"StringEquals": with(aud, "token.actions.githubusercontent.com:sub", "repo:*/widgets:pull_request")}),
		"wildcard repo":             stmt(map[string]any{"StringEquals": with(aud, "token.actions.githubusercontent.com:sub", "repo:acme/wid?ets:pull_request")}),
		"other repository":          stmt(map[string]any{"StringEquals": with(aud, "token.actions.githubusercontent.com:sub", "repo:acme/gadgets:pull_request")}),
		"repo prefix only":          stmt(map[string]any{"StringEquals": with(aud, "token.actions.githubusercontent.com:sub", "repo:acme/widgets-fork:pull_request")}),
		"one of several subs wrong": stmt(map[string]any{"StringEquals": with(aud, "token.actions.githubusercontent.com:sub", []any{"repo:acme/widgets:pull_request", "repo:evil/widgets:pull_request"})}),
		"no sub condition":          stmt(map[string]any{"StringEquals": aud}),
		"no aud condition":          stmt(map[string]any{"StringEquals": map[string]any{"token.actions.githubusercontent.com:sub": "repo:acme/widgets:pull_request"}}),
		"wrong aud":                 stmt(map[string]any{"StringEquals": map[string]any{"token.actions.githubusercontent.com:aud": "*", "token.actions.githubusercontent.com:sub": "repo:acme/widgets:pull_request"}}),
		"no condition":              {"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": federated},
	}
	for name, st := range cases {
		t.Run(name, func(t *testing.T) {
			tpl := map[string]any{"Resources": map[string]any{"R": map[string]any{
				"Type":       "AWS::IAM::Role",
				"Properties": map[string]any{"AssumeRolePolicyDocument": map[string]any{"Statement": []any{st}}},
			}}}
			if problems := githubTrustProblems(tpl, "acme", "widgets"); len(problems) == 0 {
				t.Errorf("trust %v was accepted; want it reported as wider than repo:acme/widgets", st)
			}
		})
	}
}

func TestGitHubRolesOnlyAssumeBootstrapRoles(t *testing.T) {
	templates := githubSynth(t, githubTestConfig())
	boot := func(kind, account, region string) string {
		return fmt.Sprintf("arn:aws:iam::%s:role/cdk-hnb659fds-%s-role-%s-%s", account, kind, account, region)
	}
	want := map[string][]string{
		"s3-image-compressor-github-diff-dev": {boot("lookup", "111111111111", "eu-west-1")},
		"s3-image-compressor-github-deploy-dev": {
			boot("deploy", "111111111111", "eu-west-1"), boot("file-publishing", "111111111111", "eu-west-1"),
			boot("image-publishing", "111111111111", "eu-west-1"), boot("lookup", "111111111111", "eu-west-1"),
		},
		"s3-image-compressor-github-diff-prod": {boot("lookup", "222222222222", "eu-central-1")},
		"s3-image-compressor-github-deploy-prod": {
			boot("deploy", "222222222222", "eu-central-1"), boot("file-publishing", "222222222222", "eu-central-1"),
			boot("image-publishing", "222222222222", "eu-central-1"), boot("lookup", "222222222222", "eu-central-1"),
		},
	}
	seen := 0
	for id, s := range templates {
		for _, kind := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::User", "AWS::IAM::AccessKey"} {
			if n := len(resourcesOf(s.doc, kind)); n != 0 {
				t.Errorf("%s: %d %s resources, want none (roles carry their only policy inline)", id, n, kind)
			}
		}
		for roleID, r := range resourcesOf(s.doc, "AWS::IAM::Role") {
			name, _ := r["RoleName"].(string)
			seen++
			if r["ManagedPolicyArns"] != nil {
				t.Errorf("role %s has managed policies %v, want none", name, r["ManagedPolicyArns"])
			}
			var actions, resources []string
			for _, st := range statements(s.doc, roleID) {
				if st["Effect"] != "Allow" || st["Condition"] != nil || st["NotAction"] != nil || st["NotResource"] != nil {
					t.Errorf("role %s: unexpected statement %v", name, st)
				}
				actions = append(actions, list(st["Action"])...)
				resources = append(resources, list(st["Resource"])...)
			}
			if !slices.Equal(actions, []string{"sts:AssumeRole"}) {
				t.Errorf("role %s allows %v, want only sts:AssumeRole", name, actions)
			}
			slices.Sort(resources)
			slices.Sort(want[name])
			if !slices.Equal(resources, want[name]) {
				t.Errorf("role %s may assume %v\nwant exactly %v", name, resources, want[name])
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d roles, want %d (%v)", seen, len(want), slices.Sorted(maps.Keys(want)))
	}
}

func TestGitHubProviderCreatedOrImported(t *testing.T) {
	templates := githubSynth(t, githubTestConfig())
	_, created := only(t, templates["ImageCompressorGitHub-111111111111"].doc, "AWS::IAM::OIDCProvider", func(map[string]any) bool { return true })
	if created["Url"] != "https://token.actions.githubusercontent.com" || !slices.Equal(list(created["ClientIdList"]), []string{"sts.amazonaws.com"}) {
		t.Errorf("provider = %v, want URL https://token.actions.githubusercontent.com and client id sts.amazonaws.com only", created)
	}
	prod := templates["ImageCompressorGitHub-222222222222"].doc
	if n := len(resourcesOf(prod, "AWS::IAM::OIDCProvider")); n != 0 {
		t.Errorf("prod account lists an existing provider but the stack creates %d", n)
	}
	for _, r := range resourcesOf(prod, "AWS::IAM::Role") {
		for _, st := range policyStatements(r["AssumeRolePolicyDocument"]) {
			fed := render(path(st, "Principal", "Federated"))
			if fed != "arn:aws:iam::222222222222:oidc-provider/token.actions.githubusercontent.com" {
				t.Errorf("role %v trusts %q, want the imported provider of account 222222222222", r["RoleName"], fed)
			}
		}
	}
}

func TestGitHubSharedAccountHasOneProvider(t *testing.T) {
	cfg := githubTestConfig()
	cfg.ExistingProviderAccounts = nil
	cfg.Environments["prod"] = github.Environment{Location: envconfig.Location{Account: "111111111111", Region: "us-east-1"}, DeployEnvironment: "prod"}
	templates := githubSynth(t, cfg)
	s, ok := templates["ImageCompressorGitHub-111111111111"]
	if len(templates) != 1 || !ok {
		t.Fatalf("stacks = %v, want only ImageCompressorGitHub-111111111111", slices.Sorted(maps.Keys(templates)))
	}
	if n := len(resourcesOf(s.doc, "AWS::IAM::OIDCProvider")); n != 1 {
		t.Errorf("%d OIDC providers, want 1: an account holds the provider once", n)
	}
	if n := len(resourcesOf(s.doc, "AWS::IAM::Role")); n != 4 {
		t.Errorf("%d roles, want 4 (diff and deploy for dev and prod)", n)
	}
}

// NewOIDCStack adds the AwsSolutions checks itself; their findings must all be absent.
func TestGitHubStackPassesNag(t *testing.T) {
	for _, s := range githubSynth(t, githubTestConfig()) {
		if !*s.stack.TerminationProtection() {
			t.Errorf("%s: termination protection off, want on (deleting the stack locks out every workflow)", *s.stack.StackName())
		}
		checkNag(t, s.stack)
	}
}

func TestGitHubConfigValidation(t *testing.T) {
	valid := func(edit func(c *github.Config)) github.Config {
		c := githubTestConfig()
		c.Environments = map[string]github.Environment{}
		for k, v := range githubTestConfig().Environments {
			c.Environments[k] = v
		}
		edit(&c)
		return c
	}
	setEnv := func(name string, edit func(e *github.Environment)) func(c *github.Config) {
		return func(c *github.Config) {
			e := c.Environments[name]
			edit(&e)
			c.Environments[name] = e
		}
	}
	cases := []struct {
		name    string
		cfg     github.Config
		wantErr string // substring; "" = valid
	}{
		{"valid", valid(func(*github.Config) {}), ""},
		{"dotted repo and hyphenated owner", valid(func(c *github.Config) { c.Owner, c.Repo = "my-org", "s3.image_compressor-2" }), ""},
		{"nested branch", valid(setEnv("dev", func(e *github.Environment) { e.DeployBranch = "release/v2" })), ""},
		{"repo wildcard", valid(func(c *github.Config) { c.Repo = "*" }), "github.repo"},
		{"repo partial wildcard", valid(func(c *github.Config) { c.Repo = "widg*" }), "github.repo"},
		{"repo question mark", valid(func(c *github.Config) { c.Repo = "widget?" }), "github.repo"},
		{"repo with slash", valid(func(c *github.Config) { c.Repo = "widgets/other" }), "github.repo"},
		{"repo dot-dot", valid(func(c *github.Config) { c.Repo = ".." }), "github.repo"},
		{"repo empty", valid(func(c *github.Config) { c.Repo = "" }), "github.repo"},
		{"owner wildcard", valid(func(c *github.Config) { c.Owner = "*" }), "github.owner"},
		{"owner with colon", valid(func(c *github.Config) { c.Owner = "acme:x" }), "github.owner"},
		{"owner leading hyphen", valid(func(c *github.Config) { c.Owner = "-acme" }), "github.owner"},
		{"owner too long", valid(func(c *github.Config) { c.Owner = strings.Repeat("a", 40) }), "github.owner"},
		{"branch wildcard", valid(setEnv("dev", func(e *github.Environment) { e.DeployBranch = "feature/*" })), "deployBranch"},
		{"branch dot-dot", valid(setEnv("dev", func(e *github.Environment) { e.DeployBranch = "a..b" })), "deployBranch"},
		{"environment wildcard", valid(setEnv("prod", func(e *github.Environment) { e.DeployEnvironment = "prod*" })), "deployEnvironment"},
		{"neither branch nor environment", valid(setEnv("prod", func(e *github.Environment) { e.DeployEnvironment = "" })), "set deployBranch"},
		{"both branch and environment", valid(setEnv("prod", func(e *github.Environment) { e.DeployBranch = "main" })), "not both"},
		{"short account", valid(setEnv("dev", func(e *github.Environment) { e.Account = "1234" })), `github.environments.dev: account "1234"`},
		{"bad region", valid(setEnv("dev", func(e *github.Environment) { e.Region = "Europe" })), `github.environments.dev: region "Europe"`},
		{"no account", valid(setEnv("dev", func(e *github.Environment) { e.Account = "" })), "github.environments.dev: no account"},
		{"no region", valid(setEnv("prod", func(e *github.Environment) { e.Region = "" })), "github.environments.prod: no region"},
		{"environment name with capitals", valid(func(c *github.Config) { c.Environments["Staging"] = c.Environments["dev"] }), `github.environments.Staging: name "Staging"`},
		{"no environments", valid(func(c *github.Config) { c.Environments = nil }), "empty"},
		{"existing provider in unknown account", valid(func(c *github.Config) { c.ExistingProviderAccounts = []string{"333333333333"} }), "existingProviderAccounts"},
		{"bad qualifier", valid(func(c *github.Config) { c.Qualifier = "Not-Valid" }), "qualifier"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want no error", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("Validate() accepted %+v, want an error mentioning %q", tc.cfg, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("Validate() = %q, want it to mention %q", err, tc.wantErr)
			}
			if tc.wantErr != "" {
				if _, err := github.NewStacks(awscdk.NewApp(nil), tc.cfg); err == nil {
					t.Errorf("NewStacks accepted an invalid config; want the validation error")
				}
			}
		})
	}
}

// environmentsOf parses an "environments" object as cdk.json holds it.
func environmentsOf(t *testing.T, doc string) []envconfig.Environment {
	t.Helper()
	envs, err := envconfig.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("environments %s: %v", doc, err)
	}
	return envs
}

func TestGitHubParseConfig(t *testing.T) {
	envs := environmentsOf(t, `{"dev":{},"prod":{"account":"222222222222","region":"eu-central-1"}}`)
	// As cdk.json delivers it (decoded JSON) and as `-c github='{...}'` does (a string).
	object := map[string]any{
		"owner": "acme", "repo": "widgets",
		"environments": map[string]any{
			"dev":  map[string]any{"account": "111111111111", "region": "eu-west-1", "deployBranch": "main"},
			"prod": map[string]any{"deployEnvironment": "prod"},
		},
	}
	text, _ := json.Marshal(object)
	for name, raw := range map[string]any{"object": object, "string": string(text)} {
		c, err := github.ParseConfig(raw, envs)
		if err != nil {
			t.Errorf("ParseConfig(%s) = %v, want no error", name, err)
			continue
		}
		if got := c.DeploySubject(c.Environments["dev"]); got != "repo:acme/widgets:ref:refs/heads/main" {
			t.Errorf("ParseConfig(%s): dev deploy subject %q, want repo:acme/widgets:ref:refs/heads/main", name, got)
		}
		// dev is environment-agnostic: the github block says where CI deploys it;
		// prod pins its own account and region, which the github block must not repeat.
		want := map[string]envconfig.Location{
			"dev":  {Account: "111111111111", Region: "eu-west-1"},
			"prod": {Account: "222222222222", Region: "eu-central-1"},
		}
		for env, loc := range want {
			if got := c.Environments[env].Location; got != loc {
				t.Errorf("ParseConfig(%s): %s is at %+v, want %+v", name, env, got, loc)
			}
		}
	}
	rejected := []struct{ name, doc, wantErr string }{
		{"misspelt key", `{"owner":"acme","repo":"widgets","environments":{"dev":{"account":"111111111111","region":"eu-west-1","deployBrnach":"main"}}}`, "deployBrnach"},
		{"wildcard repo", `{"owner":"acme","repo":"*","environments":{"dev":{"account":"111111111111","region":"eu-west-1","deployBranch":"main"}}}`, "github.repo"},
		{"unknown environment", `{"owner":"acme","repo":"widgets","environments":{"staging":{"account":"111111111111","region":"eu-west-1","deployBranch":"main"}}}`,
			`github.environments.staging: cdk.json's "environments" has no "staging" (it has dev, prod)`},
		{"account set twice", `{"owner":"acme","repo":"widgets","environments":{"prod":{"account":"222222222222","deployEnvironment":"prod"}}}`,
			"github.environments.prod.account: environments.prod pins account 222222222222 already; set it in one place"},
		{"region set twice", `{"owner":"acme","repo":"widgets","environments":{"prod":{"region":"eu-west-1","deployEnvironment":"prod"}}}`,
			"github.environments.prod.region: environments.prod pins region eu-central-1 already"},
		{"agnostic environment without account", `{"owner":"acme","repo":"widgets","environments":{"dev":{"region":"eu-west-1","deployBranch":"main"}}}`,
			"github.environments.dev: no account: the roles give access to one account and region; pin it in environments.dev.account"},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := github.ParseConfig(tc.doc, envs); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseConfig(%s) = %v, want an error containing %q", tc.doc, err, tc.wantErr)
			}
		})
	}
}

// One naming rule for both blocks of cdk.json: a name either block accepts, the
// other accepts too, and the longest allowed name still makes a valid IAM role name.
func TestEnvironmentNamesOneRule(t *testing.T) {
	longest := strings.Repeat("a", envconfig.MaxNameLength)
	for _, tc := range []struct {
		name  string
		valid bool
	}{
		{"dev", true}, {"eu-prod-2", true}, {strings.Repeat("a", 25), true}, {longest, true},
		{longest + "a", false}, {"Dev", false}, {"2dev", false}, {"a--b", false}, {"dev-", false}, {"de_v", false},
	} {
		_, envErr := envconfig.Parse([]byte(`{"` + tc.name + `":{}}`))
		cfg := githubTestConfig()
		cfg.ExistingProviderAccounts = nil
		cfg.Environments = map[string]github.Environment{tc.name: cfg.Environments["dev"]}
		ghErr := cfg.Validate()
		if (envErr == nil) != tc.valid || (ghErr == nil) != tc.valid {
			t.Errorf("name %q: environments error %v, github error %v; want both %s", tc.name, envErr, ghErr, map[bool]string{true: "nil", false: "set"}[tc.valid])
		}
	}
	for _, kind := range []string{"diff", "deploy"} {
		if name := github.RoleName(longest, kind); len(name) > 64 {
			t.Errorf("RoleName(%d-character name, %s) = %q: %d characters, IAM allows 64", len(longest), kind, name, len(name))
		}
	}
}

// TestGitHubRepoConfig synthesizes the repository's own cdk.json "github" block as
// `cdk synth` does: it must be valid and trust only the repository it names.
func TestGitHubRepoConfig(t *testing.T) {
	app := newApp(t, nil)
	lookup := func(key string) any { return app.Node().TryGetContext(jsii.String(key)) }
	cfg, err := github.ParseConfig(lookup(github.ContextKey), repoEnvironments(t))
	if err != nil {
		t.Fatalf("cdk.json github block: %v", err)
	}
	built := buildAll(t, "github (cdk.json)", func() ([]awscdk.Stack, error) {
		return github.NewStacksFromContext(app, lookup, repoEnvironments(t))
	})
	if len(built) == 0 {
		t.Fatal("NewStacksFromContext(cdk.json) made no stack; want the OIDC stacks")
	}
	for _, s := range built {
		for _, problem := range githubTrustProblems(s.doc, cfg.Owner, cfg.Repo) {
			t.Errorf("%s: %s", *s.stack.StackName(), problem)
		}
	}
}

func TestGitHubStacksFromContext(t *testing.T) {
	envs := environmentsOf(t, `{"dev":{}}`)
	object := map[string]any{
		"owner": "acme", "repo": "widgets",
		"environments": map[string]any{"dev": map[string]any{"account": "111111111111", "region": "eu-west-1", "deployBranch": "main"}},
	}
	cases := []struct {
		name    string
		context map[string]any
		stacks  int
		wantErr bool
	}{
		{"no github object", map[string]any{}, 0, false},
		{"github object", map[string]any{"github": object}, 1, false},
		{"invalid github object", map[string]any{"github": map[string]any{"owner": "acme", "repo": "*"}}, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stacks, err := github.NewStacksFromContext(awscdk.NewApp(nil), func(key string) any { return tc.context[key] }, envs)
			if (err != nil) != tc.wantErr || len(stacks) != tc.stacks {
				t.Errorf("NewStacksFromContext = %d stacks, error %v; want %d stacks, error %v", len(stacks), err, tc.stacks, tc.wantErr)
			}
		})
	}
}

// githubTrustProblems lists every way a role trust in tpl is wider than one
// workflow identity of OWNER/REPO: a federated statement must test aud for
// exactly sts.amazonaws.com and sub with StringEquals for values that start with
// repo:OWNER/REPO: and hold no wildcard; no other principal may assume the roles.
func githubTrustProblems(tpl map[string]any, owner, repo string) []string {
	var problems []string
	prefix := "repo:" + owner + "/" + repo + ":"
	for _, id := range sortedKeys(resourcesOf(tpl, "AWS::IAM::Role")) {
		r := resourcesOf(tpl, "AWS::IAM::Role")[id]
		name := fmt.Sprint(r["RoleName"])
		for _, st := range policyStatements(r["AssumeRolePolicyDocument"]) {
			principal, _ := st["Principal"].(map[string]any)
			if _, ok := principal["Federated"]; !ok || len(principal) != 1 {
				problems = append(problems, fmt.Sprintf("role %s trusts %v, want only the GitHub OIDC provider", name, st["Principal"]))
				continue
			}
			if !slices.Equal(list(st["Action"]), []string{"sts:AssumeRoleWithWebIdentity"}) {
				problems = append(problems, fmt.Sprintf("role %s: trust action %v, want sts:AssumeRoleWithWebIdentity", name, st["Action"]))
			}
			cond, _ := st["Condition"].(map[string]any)
			for op := range cond {
				if op != "StringEquals" {
					problems = append(problems, fmt.Sprintf("role %s: trust uses condition operator %s, want StringEquals only", name, op))
				}
			}
			eq, _ := cond["StringEquals"].(map[string]any)
			if aud := list(eq["token.actions.githubusercontent.com:aud"]); !slices.Equal(aud, []string{"sts.amazonaws.com"}) {
				problems = append(problems, fmt.Sprintf("role %s: aud %v, want exactly [sts.amazonaws.com]", name, aud))
			}
			subs := list(eq["token.actions.githubusercontent.com:sub"])
			if len(subs) == 0 {
				problems = append(problems, fmt.Sprintf("role %s: no sub condition, so any repository could assume it", name))
			}
			for _, sub := range subs {
				if !strings.HasPrefix(sub, prefix) || strings.ContainsAny(sub, "*?") {
					problems = append(problems, fmt.Sprintf("role %s: sub %q, want %s<context> with no wildcard", name, sub, prefix))
				}
			}
		}
	}
	return problems
}
