// Package walls checks the import walls the architecture promises, from what
// the go command says each package depends on (go list -deps), so a wall that
// breaks fails a test instead of waiting for a reader to notice:
//
//   - the function module never links the CDK or jsii;
//   - the pipeline (with its subpackages) and the vocabulary import no AWS
//     package, directly or through another package, and do not themselves
//     import os or net;
//   - the infra module imports from the function module only the settings
//     schema (function/config), the metric names (function/metrics) and the
//     vocabulary (function/outcome: the backfill command reads the result
//     strings the function writes).
package walls

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Project is the module path prefix of this repository's modules.
const Project = "github.com/s3-image-compressor/s3-image-compressor/"

// Rule is one wall: the packages Packages of Module must not depend on any
// package Deny matches; Direct limits the rule to the packages' own imports.
type Rule struct {
	Name     string
	Module   string   // directory of the module in the repository, e.g. "function"
	Packages []string // relative to the module: "pipeline/..." (it and below), "outcome", "..." (all)
	Direct   bool
	Deny     func(importPath string) bool
}

// Rules are the project's walls.
var Rules = []Rule{
	{
		Name:     "the function module never links the CDK or jsii",
		Module:   "function",
		Packages: []string{"..."},
		Deny: under("github.com/aws/aws-cdk-go", "github.com/aws/constructs-go", "github.com/aws/jsii-runtime-go",
			"github.com/cdklabs"),
	},
	{
		Name:     "the pipeline and the vocabulary import no AWS package",
		Module:   "function",
		Packages: []string{"pipeline/...", "outcome"},
		Deny:     under("github.com/aws"),
	},
	{
		Name:     "the pipeline and the vocabulary touch no file and no network themselves",
		Module:   "function",
		Packages: []string{"pipeline/...", "outcome"},
		Direct:   true,
		Deny:     under("os", "net"),
	},
	{
		Name:     "infra uses from the function module only the settings schema, the metric names and the vocabulary",
		Module:   "infra",
		Packages: []string{"..."},
		Direct:   true,
		Deny: func(path string) bool {
			return under(Project+"function")(path) &&
				!slices.Contains([]string{Project + "function/config", Project + "function/metrics", Project + "function/outcome"}, path)
		},
	},
}

// under matches the import paths at or below any of roots.
func under(roots ...string) func(string) bool {
	return func(path string) bool {
		return slices.ContainsFunc(roots, func(root string) bool { return path == root || strings.HasPrefix(path, root+"/") })
	}
}

// Violation is one package that breaks a rule.
type Violation struct {
	Rule    string
	Package string
	Denied  string
	Chain   []string // Package, the packages in between, Denied
}

func (v Violation) String() string {
	short := make([]string, len(v.Chain))
	for i, p := range v.Chain {
		short[i] = strings.TrimPrefix(p, Project)
	}
	return fmt.Sprintf("%s: %s imports %s (%s)", v.Rule, strings.TrimPrefix(v.Package, Project),
		strings.TrimPrefix(v.Denied, Project), strings.Join(short, " -> "))
}

// Check applies rules to the repository at root (the directory of go.work)
// and returns every violation, in the order of the rules. A rule that covers
// no package is an error.
func Check(root string, rules []Rule) ([]Violation, error) {
	graphs := map[string]map[string]pkg{}
	var found []Violation
	for _, r := range rules {
		g, ok := graphs[r.Module]
		if !ok {
			var err error
			if g, err = list(root, r.Module); err != nil {
				return nil, err
			}
			graphs[r.Module] = g
		}
		covered := 0
		for _, p := range sorted(g) {
			if p.DepOnly || !r.covers(p.ImportPath, p.Module.Path) {
				continue
			}
			covered++
			deps := p.Deps
			if r.Direct {
				deps = p.Imports
			}
			for _, d := range deps {
				if r.Deny(d) {
					found = append(found, Violation{Rule: r.Name, Package: p.ImportPath, Denied: d, Chain: chain(g, p.ImportPath, d)})
				}
			}
		}
		if covered == 0 {
			// A wall around nothing holds trivially: the packages moved.
			return nil, fmt.Errorf("rule %q: no package of %s matches %q", r.Name, r.Module, r.Packages)
		}
	}
	return found, nil
}

// covers reports whether the rule is about the package path of the module
// whose path is module.
func (r Rule) covers(path, module string) bool {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	return slices.ContainsFunc(r.Packages, func(pattern string) bool {
		if base, ok := strings.CutSuffix(pattern, "..."); ok {
			base = strings.TrimSuffix(base, "/")
			return base == "" || rel == base || strings.HasPrefix(rel, base+"/")
		}
		return rel == pattern
	})
}

// pkg is what go list -json says of a package.
type pkg struct {
	ImportPath string
	DepOnly    bool
	Imports    []string
	Deps       []string
	Module     struct{ Path string }
	Error      *struct{ Err string }
}

// list runs go list -deps over every package of the module in root/dir.
func list(root, dir string) (map[string]pkg, error) {
	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,DepOnly,Imports,Deps,Module,Error", "./...")
	cmd.Dir = filepath.Join(root, dir)
	// cgo on, so files importing "C" count as the build sees them; the
	// workspace of root, whatever the caller's environment says.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOWORK="+filepath.Join(root, "go.work"), "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps in %s: %w: %s", cmd.Dir, err, strings.TrimSpace(stderr.String()))
	}
	g := map[string]pkg{}
	var errs []error
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list -deps in %s: %w", cmd.Dir, err)
		}
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("%s: %s", p.ImportPath, p.Error.Err))
		}
		g[p.ImportPath] = p
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("go list -deps in %s: %w", cmd.Dir, errors.Join(errs...))
	}
	return g, nil
}

func sorted(g map[string]pkg) []pkg {
	all := make([]pkg, 0, len(g))
	for _, p := range g {
		all = append(all, p)
	}
	slices.SortFunc(all, func(a, b pkg) int { return strings.Compare(a.ImportPath, b.ImportPath) })
	return all
}

// chain is a shortest import path from one package to another.
func chain(g map[string]pkg, from, to string) []string {
	prev := map[string]string{from: ""}
	for queue := []string{from}; len(queue) > 0; queue = queue[1:] {
		at := queue[0]
		if at == to {
			var path []string
			for p := to; p != ""; p = prev[p] {
				path = append([]string{p}, path...)
			}
			return path
		}
		for _, next := range g[at].Imports {
			if _, seen := prev[next]; !seen {
				prev[next] = at
				queue = append(queue, next)
			}
		}
	}
	return []string{from, to}
}
