// Package github defines the IAM side of deploying from GitHub Actions: the
// GitHub OIDC provider and, per environment, a read-only diff role and a deploy
// role that can do nothing but assume the CDK bootstrap roles.
package github

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/s3-image-compressor/s3-image-compressor/infra/envconfig"
)

// ContextKey is the cdk.json context key holding a Config.
const ContextKey = "github"

// DefaultQualifier is the CDK bootstrap qualifier `cdk bootstrap` uses unless told otherwise.
const DefaultQualifier = "hnb659fds"

// Config is the `github` object in cdk.json.
type Config struct {
	// Owner and Repo name the one repository whose workflows may assume the roles,
	// spelled as on GitHub: IAM compares the token's sub claim case-sensitively.
	Owner string `json:"owner"`
	Repo  string `json:"repo"`
	// Qualifier of the CDK bootstrap stack; empty means DefaultQualifier.
	Qualifier string `json:"qualifier,omitempty"`
	// ExistingProviderAccounts lists accounts that already have the GitHub OIDC
	// provider (an account can hold it only once): it is imported there, not created.
	ExistingProviderAccounts []string `json:"existingProviderAccounts,omitempty"`
	// Environments by name (the names the compressor stacks and workflows use).
	Environments map[string]Environment `json:"environments"`
}

// Environment is where one environment is deployed and who may deploy it.
// Exactly one of DeployBranch and DeployEnvironment is set.
type Environment struct {
	// Location is the account and region the roles give access to. ParseConfig
	// takes what the environment in cdk.json's "environments" pins; the github
	// block names only what that leaves open (an environment-agnostic stack is
	// deployed wherever CI's role points).
	envconfig.Location
	// DeployBranch: pushes to this branch deploy (sub repo:OWNER/REPO:ref:refs/heads/BRANCH).
	DeployBranch string `json:"deployBranch,omitempty"`
	// DeployEnvironment: jobs in this GitHub environment deploy
	// (sub repo:OWNER/REPO:environment:NAME); its protection rules gate the deploy.
	DeployEnvironment string `json:"deployEnvironment,omitempty"`
}

// ParseConfig reads the context value of ContextKey (the object from cdk.json, or
// a JSON string when it was given with -c) against the app's environments, which
// must hold every environment it names. Unknown fields are errors, so a
// misspelt key cannot silently widen or drop a trust.
func ParseConfig(raw any, envs []envconfig.Environment) (Config, error) {
	var doc []byte
	switch v := raw.(type) {
	case string:
		doc = []byte(v)
	default:
		var err error
		if doc, err = json.Marshal(v); err != nil {
			return Config{}, fmt.Errorf("context %q: %w", ContextKey, err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("context %q: %w", ContextKey, err)
	}
	if err := c.locate(envs); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// locate completes each environment's location from envs. Every value has one
// source: an account or region that "environments" pins must not be repeated here.
func (c Config) locate(envs []envconfig.Environment) error {
	var errs []error
	for _, name := range c.EnvironmentNames() {
		i := slices.IndexFunc(envs, func(e envconfig.Environment) bool { return e.Name == name })
		if i < 0 {
			errs = append(errs, fmt.Errorf("github.environments.%s: cdk.json's \"environments\" has no %q (it has %s)", name, name, strings.Join(envconfig.Names(envs), ", ")))
			continue
		}
		g, pinned := c.Environments[name], envs[i].Location
		for _, f := range []struct {
			key       string
			here, pin *string
		}{{"account", &g.Account, &pinned.Account}, {"region", &g.Region, &pinned.Region}} {
			switch {
			case *f.pin == "":
			case *f.here != "":
				errs = append(errs, fmt.Errorf("github.environments.%s.%s: environments.%s pins %s %s already; set it in one place", name, f.key, name, f.key, *f.pin))
			default:
				*f.here = *f.pin
			}
		}
		c.Environments[name] = g
	}
	return errors.Join(errs...)
}

var (
	// GitHub's own rules: owners are alphanumeric with inner hyphens, at most 39
	// characters; repositories use letters, digits, '.', '-' and '_'. Neither allows
	// '*' or '?', so a valid name can never act as a wildcard in a trust policy.
	ownerPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?$`)
	repoPattern  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	// Narrower than git's ref rules on purpose: no glob or shell characters.
	branchPattern      = regexp.MustCompile(`^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$`)
	environmentPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,255}$`)
	qualifierPattern   = regexp.MustCompile(`^[a-z0-9]{1,10}$`)
)

// Validate rejects anything that would make a trust policy broader than one
// repository and one branch, GitHub environment or pull_request, and any
// environment without a complete location.
func (c Config) Validate() error {
	var errs []error
	if !ownerPattern.MatchString(c.Owner) {
		errs = append(errs, fmt.Errorf("github.owner %q is not a GitHub user or organisation name (letters, digits, inner hyphens; no wildcards)", c.Owner))
	}
	if !repoPattern.MatchString(c.Repo) || c.Repo == "." || c.Repo == ".." {
		errs = append(errs, fmt.Errorf("github.repo %q is not a GitHub repository name (letters, digits, '.', '-', '_'; no wildcards)", c.Repo))
	}
	if c.Qualifier != "" && !qualifierPattern.MatchString(c.Qualifier) {
		errs = append(errs, fmt.Errorf("github.qualifier %q is not a CDK bootstrap qualifier (1-10 lower-case letters or digits)", c.Qualifier))
	}
	if len(c.Environments) == 0 {
		errs = append(errs, errors.New("github.environments is empty: name at least one environment"))
	}
	accounts := map[string]bool{}
	for _, name := range c.EnvironmentNames() {
		e := c.Environments[name]
		accounts[e.Account] = true
		if err := e.validate(name); err != nil {
			errs = append(errs, fmt.Errorf("github.environments.%s: %w", name, err))
		}
		if err := envconfig.ValidateName(name); err != nil {
			errs = append(errs, fmt.Errorf("github.environments.%s: %w", name, err))
		}
	}
	for _, a := range c.ExistingProviderAccounts {
		if !accounts[a] {
			errs = append(errs, fmt.Errorf("github.existingProviderAccounts: %q is not the account of any environment", a))
		}
	}
	return errors.Join(errs...)
}

func (e Environment) validate(name string) error {
	loc := e.Location
	errs := []error{loc.Validate()}
	for _, f := range []struct{ key, value string }{{"account", e.Account}, {"region", e.Region}} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("no %s: the roles give access to one account and region; pin it in environments.%s.%s, or set it here for an environment-agnostic stack", f.key, name, f.key))
		}
	}
	switch {
	case e.DeployBranch != "" && e.DeployEnvironment != "":
		errs = append(errs, errors.New("set deployBranch or deployEnvironment, not both"))
	case e.DeployBranch == "" && e.DeployEnvironment == "":
		errs = append(errs, errors.New("set deployBranch (e.g. \"main\") or deployEnvironment (a GitHub environment with required reviewers)"))
	case e.DeployBranch != "":
		if !branchPattern.MatchString(e.DeployBranch) || strings.Contains(e.DeployBranch, "..") || strings.HasSuffix(e.DeployBranch, ".lock") {
			errs = append(errs, fmt.Errorf("deployBranch %q is not a plain branch name (letters, digits, '.', '-', '_', '/'; no wildcards)", e.DeployBranch))
		}
	default:
		if !environmentPattern.MatchString(e.DeployEnvironment) {
			errs = append(errs, fmt.Errorf("deployEnvironment %q must be letters, digits, '.', '-' or '_' (no wildcards)", e.DeployEnvironment))
		}
	}
	return errors.Join(errs...)
}

// EnvironmentNames returns the environment names sorted, so the output is stable.
func (c Config) EnvironmentNames() []string {
	names := make([]string, 0, len(c.Environments))
	for n := range c.Environments {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// DiffSubject is the OIDC sub claim of a pull_request workflow job in the repository
// (a job that names no GitHub environment).
func (c Config) DiffSubject() string {
	return fmt.Sprintf("repo:%s/%s:pull_request", c.Owner, c.Repo)
}

// DeploySubject is the OIDC sub claim of the job allowed to deploy e.
func (c Config) DeploySubject(e Environment) string {
	if e.DeployEnvironment != "" {
		return fmt.Sprintf("repo:%s/%s:environment:%s", c.Owner, c.Repo, e.DeployEnvironment)
	}
	return fmt.Sprintf("repo:%s/%s:ref:refs/heads/%s", c.Owner, c.Repo, e.DeployBranch)
}

func (c Config) qualifier() string {
	if c.Qualifier == "" {
		return DefaultQualifier
	}
	return c.Qualifier
}
