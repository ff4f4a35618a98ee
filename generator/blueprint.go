// Package generator is saaskit's engine. Its core is a pure function,
// Render: (blueprint, answers, kit version) → Plan, an in-memory list of
// files. Everything else — `saaskit new`, --dry-run, golden tests, and the
// later add and upgrade verbs — consumes a Plan; only Write touches the disk.
package generator

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// Blueprint is a declarative recipe: the questions to ask, which template
// files render under which answers, and the generated module's requirements.
type Blueprint struct {
	Name      string      `yaml:"name"`
	Templates string      `yaml:"templates"`
	Questions []Question  `yaml:"questions"`
	Files     []FileGroup `yaml:"files"`
	Delims    []DelimRule `yaml:"delims"`
	// Traits names every capability a choice may declare, with what it
	// means. Templates ask for traits (Data.Has), never for a value by name,
	// so a new value is a blueprint entry and its own files.
	Traits map[string]string `yaml:"traits"`
	// Services are the servers every generated repository needs (Postgres);
	// a choice adds its own.
	Services []Service `yaml:"services"`
	// Migrations match the generated repository's database migrations,
	// which an upgrade never rewrites once they may have been applied.
	Migrations []string `yaml:"migrations"`
	Modules    []Module `yaml:"modules"`
	Tools      []Module `yaml:"tools"`

	// locks holds the blueprint's lock files (go.mod and go.sum per lock key).
	locks fs.FS
}

// Question is one option of the generated repository: a flag of
// `saaskit new`, a prompt, and a validated answer.
type Question struct {
	Name  string `yaml:"name"`
	Title string `yaml:"title"`
	Help  string `yaml:"help"`
	// Default is a template over earlier answers, e.g. "example.com/{{.name}}".
	// A question with choices defaults to its first choice.
	Default  string   `yaml:"default"`
	Validate string   `yaml:"validate"`
	Choices  []Choice `yaml:"choices"`
	// Immutable, when set, explains why the answer cannot change after
	// generation (`saaskit config set` refuses it).
	Immutable string `yaml:"immutable"`
}

// Choice is one allowed value of a question, with the trade-off it makes.
type Choice struct {
	Value string `yaml:"value"`
	Label string `yaml:"label"`
	Help  string `yaml:"help"`
	// Traits are the capabilities the value brings, from the blueprint's
	// traits list.
	Traits []string `yaml:"traits"`
	// Services are the servers the value needs beside the blueprint's own.
	Services []Service `yaml:"services"`
}

// Service is a server a generated repository talks to. The kit's tests
// derive the services they pass to a generated repository from it.
type Service struct {
	Name string `yaml:"name"`
	// Env is the application's setting that points at the server.
	Env string `yaml:"env"`
	// TestEnv is the variable the generated tests read the server from;
	// they skip without it (fail with SAASKIT_REQUIRE_SERVICES=1).
	TestEnv string `yaml:"test_env"`
}

// Condition maps question names to the values that satisfy it; all entries
// must hold. An empty condition always holds.
type Condition map[string][]string

// FileGroup claims template files for a condition.
type FileGroup struct {
	When Condition `yaml:"when"`
	// Has lists traits the answers' choices must bring, so that files of a
	// capability (the outbox) come with every value that declares it,
	// without the group naming the values.
	Has   []string `yaml:"has"`
	Paths []string `yaml:"paths"`
}

// DelimRule sets other template delimiters for some paths.
type DelimRule struct {
	Paths []string `yaml:"paths"`
	Left  string   `yaml:"left"`
	Right string   `yaml:"right"`
}

// Module is a pinned requirement of the generated module.
type Module struct {
	Path    string    `yaml:"path"`
	Version string    `yaml:"version"`
	Package string    `yaml:"package"` // for tools: the command's package
	When    Condition `yaml:"when"`
}

// LoadBlueprint reads the manifest <name>.yaml from fsys; its lock files are
// read from <name>/locks.
func LoadBlueprint(fsys fs.FS, name string) (*Blueprint, error) {
	raw, err := fs.ReadFile(fsys, name+".yaml")
	if err != nil {
		return nil, fmt.Errorf("load blueprint %q: %w", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var bp Blueprint
	if err := dec.Decode(&bp); err != nil {
		return nil, fmt.Errorf("parse blueprint %s.yaml: %w", name, err)
	}
	if err := bp.check(); err != nil {
		return nil, fmt.Errorf("blueprint %s.yaml: %w", name, err)
	}
	if sub, err := fs.Sub(fsys, name+"/locks"); err == nil {
		bp.locks = sub
	}
	return &bp, nil
}

// check reports mistakes in the manifest itself, so they surface when the
// blueprint loads rather than as odd output.
func (bp *Blueprint) check() error {
	var errs []error
	seen := map[string]bool{}
	for _, q := range bp.Questions {
		if q.Name == "" {
			errs = append(errs, errors.New("a question has no name"))
			continue
		}
		if seen[q.Name] {
			errs = append(errs, fmt.Errorf("question %q is declared twice", q.Name))
		}
		seen[q.Name] = true
		if q.Validate != "" && validators[q.Validate] == nil {
			errs = append(errs, fmt.Errorf("question %q: unknown validator %q", q.Name, q.Validate))
		}
		if q.Default != "" {
			if _, err := template.New(q.Name).Option("missingkey=error").Parse(q.Default); err != nil {
				errs = append(errs, fmt.Errorf("question %q: default: %w", q.Name, err))
			}
		}
	}
	checkCond := func(where string, c Condition) {
		for k, vals := range c {
			q := bp.Question(k)
			if q == nil {
				errs = append(errs, fmt.Errorf("%s: condition on unknown question %q", where, k))
				continue
			}
			for _, v := range vals {
				if !q.allows(v) {
					errs = append(errs, fmt.Errorf("%s: %q is not a value of %q", where, v, k))
				}
			}
		}
	}
	for i, g := range bp.Files {
		checkCond(fmt.Sprintf("files[%d]", i), g.When)
		for _, t := range g.Has {
			if _, ok := bp.Traits[t]; !ok {
				errs = append(errs, fmt.Errorf("files[%d]: unknown trait %q", i, t))
			}
		}
	}
	for _, m := range bp.Modules {
		checkCond("module "+m.Path, m.When)
	}
	for _, q := range bp.Questions {
		for _, c := range q.Choices {
			for _, t := range c.Traits {
				if _, ok := bp.Traits[t]; !ok {
					errs = append(errs, fmt.Errorf("question %q: choice %q: unknown trait %q", q.Name, c.Value, t))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// choices returns the choices the answers select, in question order.
func (bp *Blueprint) choices(a Answers) []Choice {
	var out []Choice
	for _, q := range bp.Questions {
		for _, c := range q.Choices {
			if a[q.Name] == c.Value {
				out = append(out, c)
			}
		}
	}
	return out
}

// TraitsOf returns the traits the answers' choices bring.
func (bp *Blueprint) TraitsOf(a Answers) map[string]bool {
	traits := map[string]bool{}
	for _, c := range bp.choices(a) {
		for _, t := range c.Traits {
			traits[t] = true
		}
	}
	return traits
}

// hasAll reports whether the answers' choices bring every trait.
func (bp *Blueprint) hasAll(a Answers, traits []string) bool {
	if len(traits) == 0 {
		return true
	}
	have := bp.TraitsOf(a)
	for _, t := range traits {
		if !have[t] {
			return false
		}
	}
	return true
}

// ServicesOf lists the servers a repository rendered from the answers
// needs: the blueprint's own, then each choice's.
func (bp *Blueprint) ServicesOf(a Answers) []Service {
	out := slices.Clone(bp.Services)
	for _, c := range bp.choices(a) {
		out = append(out, c.Services...)
	}
	return out
}

// AllServices lists every server any answers may need, each once, in
// blueprint order: what a test harness passes through to generated repos.
func (bp *Blueprint) AllServices() []Service {
	out := slices.Clone(bp.Services)
	for _, q := range bp.Questions {
		for _, c := range q.Choices {
			for _, s := range c.Services {
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// Question returns the question called name, or nil.
func (bp *Blueprint) Question(name string) *Question {
	for i := range bp.Questions {
		if bp.Questions[i].Name == name {
			return &bp.Questions[i]
		}
	}
	return nil
}

// Values lists the allowed values of a question with choices.
func (q *Question) Values() []string {
	vals := make([]string, len(q.Choices))
	for i, c := range q.Choices {
		vals[i] = c.Value
	}
	return vals
}

func (q *Question) allows(v string) bool {
	return len(q.Choices) == 0 || slices.Contains(q.Values(), v)
}

// Holds reports whether the answers satisfy the condition.
func (c Condition) Holds(a Answers) bool {
	for k, vals := range c {
		if !slices.Contains(vals, a[k]) {
			return false
		}
	}
	return true
}

// matchPath reports whether a slash-separated path matches a blueprint
// pattern: path.Match syntax per segment, and "**" for any number of
// segments.
func matchPath(pattern, name string) bool {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := len(name); i >= 0; i-- {
				if matchSegments(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// IsMigration reports whether a generated path is a database migration.
func (bp *Blueprint) IsMigration(name string) bool {
	for _, p := range bp.Migrations {
		if matchPath(p, name) {
			return true
		}
	}
	return false
}

// included reports whether a template file renders for the answers.
func (bp *Blueprint) included(name string, a Answers) bool {
	claimed := false
	for _, g := range bp.Files {
		for _, p := range g.Paths {
			if matchPath(p, name) {
				if g.When.Holds(a) && bp.hasAll(a, g.Has) {
					return true
				}
				claimed = true
			}
		}
	}
	return !claimed
}

// delims returns the template delimiters for a template file.
func (bp *Blueprint) delims(name string) (left, right string) {
	for _, r := range bp.Delims {
		for _, p := range r.Paths {
			if matchPath(p, name) {
				return r.Left, r.Right
			}
		}
	}
	return "{{", "}}"
}
