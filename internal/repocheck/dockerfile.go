// Package repocheck validates what the kit generates without running it: a
// Dockerfile is parsed as `docker build` would, a compose file is loaded as
// `docker compose config` would, and workflows and release configs are
// handed to the same linters CI uses. The smoke tests lean on it because
// neither Docker nor GitHub Actions can run where they do.
package repocheck

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// Dockerfile parses content as `docker build` does. It reports syntax
// errors, unknown instructions, and the warnings a build would print (empty
// continuation lines, mismatched `FROM ... AS` casing and the like), since a
// generated Dockerfile should build without any.
func Dockerfile(content []byte) error {
	_, err := parseDockerfile(content)
	return err
}

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	stages   []instructions.Stage
	metaArgs []instructions.ArgCommand // ARGs before the first FROM
}

func parseDockerfile(content []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return nil, fmt.Errorf("dockerfile: %w", err)
	}
	var warnings []error
	for _, w := range res.Warnings {
		warnings = append(warnings, fmt.Errorf("dockerfile: %s%s", lineOf(w.Location), w.Short))
	}
	lint := linter.New(&linter.Config{
		Warn: func(rule, _, _, msg string, loc []parser.Range) {
			var at *parser.Range
			if len(loc) > 0 {
				at = &loc[0]
			}
			warnings = append(warnings, fmt.Errorf("dockerfile: %s%s: %s", lineOf(at), rule, msg))
		},
	})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		// The error already says "dockerfile parse error on line N".
		return nil, err
	}
	if len(stages) == 0 {
		return nil, errors.New("dockerfile: no FROM instruction")
	}
	if err := errors.Join(warnings...); err != nil {
		return nil, err
	}
	return &dockerfile{stages: stages, metaArgs: metaArgs}, nil
}

func lineOf(r *parser.Range) string {
	if r == nil {
		return ""
	}
	return fmt.Sprintf("line %d: ", r.Start.Line)
}

// CheckAppDockerfile checks that content is a valid Dockerfile and holds
// what the product promises of a generated app's image:
//
//   - at least two stages: one to build, one to run;
//   - a build stage that runs `go build` with CGO_ENABLED=0, set inline or by
//     ENV earlier in that stage, so the binary runs on a libc-less base;
//   - a final stage based on a gcr.io/distroless image that runs as the
//     non-root user, through a :nonroot tag or USER nonroot / 65532;
//   - an ENTRYPOINT in exec (JSON) form, since distroless has no shell, whose
//     program is binary.
//
// Every problem found is reported, one per line.
func CheckAppDockerfile(content []byte, binary string) error {
	df, err := parseDockerfile(content)
	if err != nil {
		return err
	}
	var problems []error
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("dockerfile: "+format, args...))
	}

	if n := len(df.stages); n < 2 {
		fail("%d stage, want a multi-stage build (a build stage and a runtime stage)", n)
	}

	builds, static := 0, 0
	cgoOffIn := map[string]bool{} // by stage name, so FROM <stage> inherits its ENV
	for i := range len(df.stages) - 1 {
		st := &df.stages[i]
		cgoOff := cgoOffIn[strings.ToLower(st.BaseName)]
		for _, cmd := range st.Commands {
			switch c := cmd.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					if kv.Key == "CGO_ENABLED" {
						cgoOff = kv.Value == "0"
					}
				}
			case *instructions.RunCommand:
				script := runScript(c)
				if !goBuild.MatchString(script) {
					continue
				}
				builds++
				if cgoOff && !cgoOn.MatchString(script) || cgoOffInline.MatchString(script) {
					static++
				}
			}
		}
		if st.Name != "" {
			cgoOffIn[strings.ToLower(st.Name)] = cgoOff
		}
	}
	switch {
	case builds == 0:
		fail("no build stage runs `go build`")
	case static < builds:
		fail("`go build` runs without CGO_ENABLED=0 (set it in the RUN line or with ENV in that stage); the runtime image has no libc")
	}

	final := df.stages[len(df.stages)-1]
	base := df.expand(final.BaseName)
	distroless := strings.HasPrefix(base, "gcr.io/distroless/")
	if !distroless {
		fail("final stage is FROM %q, want a gcr.io/distroless image", base)
	}
	user := ""
	if imageTag(base) == "nonroot" {
		user = "nonroot"
	}
	var entrypoint *instructions.EntrypointCommand
	for _, cmd := range final.Commands {
		switch c := cmd.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			entrypoint = c
		}
	}
	if name, _, _ := strings.Cut(user, ":"); name != "nonroot" && name != "65532" {
		if user == "" {
			fail("final stage runs as root: use a :nonroot distroless tag or USER nonroot (65532)")
		} else {
			fail("final stage runs as USER %s, want nonroot (65532)", user)
		}
	}

	switch {
	case entrypoint == nil:
		fail("final stage has no ENTRYPOINT, want one that runs %s", binary)
	case entrypoint.PrependShell:
		fail("ENTRYPOINT %s uses the shell form, but distroless images have no /bin/sh: use the JSON form [\"/path/to/%s\"]",
			strings.Join(entrypoint.CmdLine, " "), binary)
	case len(entrypoint.CmdLine) == 0 || path.Base(entrypoint.CmdLine[0]) != binary:
		fail("ENTRYPOINT %q does not run the %s binary", entrypoint.CmdLine, binary)
	}
	return errors.Join(problems...)
}

var (
	goBuild      = regexp.MustCompile(`\bgo\s+build\b`)
	cgoOffInline = regexp.MustCompile(`\bCGO_ENABLED=0\b`)
	cgoOn        = regexp.MustCompile(`\bCGO_ENABLED=[^0\s]`)
)

// runScript returns what a RUN instruction executes, heredocs included.
func runScript(c *instructions.RunCommand) string {
	parts := append([]string(nil), c.CmdLine...)
	for _, f := range c.Files {
		parts = append(parts, f.Data)
	}
	return strings.Join(parts, " ")
}

// expand substitutes the defaults of the ARGs declared before the first
// FROM, which is all a FROM line can refer to. Unknown names are left as is.
func (df *dockerfile) expand(s string) string {
	return os.Expand(s, func(name string) string {
		for _, a := range df.metaArgs {
			for _, kv := range a.Args {
				if kv.Key == name && kv.Value != nil {
					return *kv.Value
				}
			}
		}
		return "${" + name + "}"
	})
}

// imageTag returns the tag of an image reference, ignoring any digest.
func imageTag(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ""
	}
	return ref[i+1:]
}
