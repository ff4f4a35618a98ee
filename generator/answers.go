package generator

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"golang.org/x/mod/module"
)

// Answers maps question names to chosen values.
type Answers map[string]string

// Clone returns a copy of the answers.
func (a Answers) Clone() Answers {
	c := make(Answers, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}

// AnswerError reports an unusable answer, naming the question (and so the
// flag) it belongs to.
type AnswerError struct {
	Question string
	Value    string
	Reason   string
}

func (e *AnswerError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("--%s: %s", e.Question, e.Reason)
	}
	return fmt.Sprintf("--%s %q: %s", e.Question, e.Value, e.Reason)
}

// validators check free-text answers; the blueprint names them.
var validators = map[string]func(string) error{
	"appname": ValidateAppName,
	"module":  ValidateModulePath,
}

var appNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]*[a-z0-9]$`)

// ValidateAppName checks an app name: it names a directory, a binary and a
// compose project, so it is kept to what all three accept.
func ValidateAppName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case len(name) > 40:
		return errors.New("must be at most 40 characters")
	case !appNameRE.MatchString(name):
		return errors.New("use lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen")
	case strings.Contains(name, "--"):
		return errors.New("must not contain consecutive hyphens")
	case slices.Contains(shadowingNames, name):
		return fmt.Errorf("%q would shadow a tool or a directory of the repository (%s); choose another name", name, strings.Join(shadowingNames, ", "))
	}
	return nil
}

// shadowingNames are app names that would shadow a tool once the binary is
// installed (go, make, docker ...), or that Go or the repository's layout
// gives a meaning of its own (cmd/cmd, internal, vendor, testdata, main).
var shadowingNames = []string{
	"go", "gofmt", "git", "make", "docker",
	"cmd", "internal", "vendor", "testdata", "main", "std", "all", "tool",
}

// ValidateModulePath checks a Go module path the way the go command does.
func ValidateModulePath(p string) error {
	if p == "" {
		return errors.New("must not be empty")
	}
	if err := module.CheckImportPath(p); err != nil {
		var ipe *module.InvalidPathError
		if errors.As(err, &ipe) && ipe.Err != nil {
			return fmt.Errorf("not a valid Go module path: %w", ipe.Err)
		}
		return fmt.Errorf("not a valid Go module path: %w", err)
	}
	if _, _, ok := module.SplitPathVersion(p); !ok {
		return errors.New("not a valid Go module path: bad major version suffix")
	}
	return nil
}

// Check validates one answer against its question.
func (q *Question) Check(v string) error {
	if len(q.Choices) > 0 {
		if !q.allows(v) {
			return &AnswerError{q.Name, v, "must be one of " + strings.Join(q.Values(), ", ")}
		}
		return nil
	}
	if fn := validators[q.Validate]; fn != nil {
		if err := fn(v); err != nil {
			return &AnswerError{q.Name, v, err.Error()}
		}
	}
	return nil
}

// DefaultFor returns a question's default given the answers so far.
func (q *Question) DefaultFor(a Answers) (string, error) {
	if q.Default == "" {
		if len(q.Choices) > 0 {
			return q.Choices[0].Value, nil
		}
		return "", nil
	}
	t, err := template.New(q.Name).Option("missingkey=error").Parse(q.Default)
	if err != nil {
		return "", fmt.Errorf("default of %q: %w", q.Name, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, map[string]string(a)); err != nil {
		return "", fmt.Errorf("default of %q: %w", q.Name, err)
	}
	return b.String(), nil
}

// Complete fills every unanswered question with its default, in order, so
// later defaults can build on earlier answers.
func (bp *Blueprint) Complete(a Answers) (Answers, error) {
	out := a.Clone()
	for i := range bp.Questions {
		q := &bp.Questions[i]
		if _, ok := out[q.Name]; ok {
			continue
		}
		d, err := q.DefaultFor(out)
		if err != nil {
			return nil, err
		}
		out[q.Name] = d
	}
	return out, nil
}

// Validate checks a complete set of answers: every question answered with
// an allowed value, and nothing unknown.
func (bp *Blueprint) Validate(a Answers) error {
	var errs []error
	for i := range bp.Questions {
		q := &bp.Questions[i]
		v, ok := a[q.Name]
		if !ok {
			errs = append(errs, &AnswerError{q.Name, "", "no answer given"})
			continue
		}
		if err := q.Check(v); err != nil {
			errs = append(errs, err)
		}
	}
	for k := range a {
		if bp.Question(k) == nil {
			errs = append(errs, fmt.Errorf("unknown option %q", k))
		}
	}
	return errors.Join(errs...)
}
