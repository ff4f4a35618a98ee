package prompt

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/cmdutil"
)

var (
	nameQ   = &generator.Question{Name: "name", Title: "App name", Validate: "appname"}
	brokerQ = &generator.Question{Name: "broker", Title: "Broker", Choices: []generator.Choice{
		{Value: "postgres", Label: "Postgres", Help: "no extra server"},
		{Value: "redis", Label: "Redis", Help: "fast"},
		{Value: "nats", Label: "NATS", Help: "streams"},
	}}
)

// ask1 asks a single question with a fixed default, and to confirm it.
func ask1(p *Huh, q *generator.Question, def string) (string, error) {
	answers := generator.Answers{}
	err := p.Ask([]*generator.Question{q}, answers, func(*generator.Question, generator.Answers) (string, error) { return def, nil }, "Go on?")
	return answers[q.Name], err
}

// One pipe write holding every answer must still give each question its
// own line.
func TestAccessibleAnswersReachTheirQuestions(t *testing.T) {
	t.Parallel()
	ios, in, _, errOut := cmdutil.Test()
	in.WriteString("shop\n\n3\ny\n\n\n") // each Ask ends with its confirmation
	p := New(ios, true)

	for _, step := range []struct {
		q    *generator.Question
		def  string
		want string
	}{
		{nameQ, "acme", "shop"},
		{brokerQ, "postgres", "nats"},
		{brokerQ, "redis", "redis"}, // empty line keeps the default
	} {
		got, err := ask1(p, step.q, step.def)
		if err != nil {
			t.Fatalf("Ask(%s): %v\n%s", step.q.Name, err, errOut)
		}
		if got != step.want {
			t.Errorf("Ask(%s) = %q, want %q", step.q.Name, got, step.want)
		}
	}
	if !strings.Contains(errOut.String(), "1. Postgres: no extra server (default)") || !strings.Contains(errOut.String(), "Broker (default postgres)") {
		t.Errorf("the default choice is not marked:\n%s", errOut)
	}
	if !regexp.MustCompile(`Your answers: *\n +Broker: nats`).MatchString(errOut.String()) || !strings.Contains(errOut.String(), "Go on? [Y/n]") {
		t.Errorf("no summary and confirmation:\n%s", errOut)
	}
	if !strings.Contains(errOut.String(), "3. NATS: streams") {
		t.Errorf("choices and their trade-offs not listed:\n%s", errOut)
	}
	if strings.Contains(errOut.String(), "\x1b[") {
		t.Errorf("accessible output has ANSI escapes:\n%q", errOut)
	}
}

func TestAccessibleEndOfInputIsAnError(t *testing.T) {
	t.Parallel()
	ios, in, _, _ := cmdutil.Test()
	in.WriteString("2\ny") // no newline: still an answer
	p := New(ios, true)
	if got, err := ask1(p, brokerQ, "postgres"); err != nil || got != "redis" {
		t.Fatalf("Ask = %q, %v; want redis", got, err)
	}
	if _, err := ask1(p, brokerQ, "postgres"); err == nil || !strings.Contains(err.Error(), `input ended before a valid answer to "Broker"`) {
		t.Fatalf("exhausted input not reported: %v", err)
	}
}

func TestAccessibleInvalidAnswers(t *testing.T) {
	t.Parallel()
	ios, in, _, errOut := cmdutil.Test()
	in.WriteString("7\nx\n1\ny\nBad_Name\n")
	p := New(ios, true)
	got, err := ask1(p, brokerQ, "redis")
	if err != nil || got != "postgres" {
		t.Fatalf("Ask = %q, %v; want postgres after two invalid lines", got, err)
	}
	if !strings.Contains(errOut.String(), "Invalid: must be a number between 1 and 3") {
		t.Errorf("invalid choice not explained:\n%s", errOut)
	}
	if _, err := ask1(p, nameQ, "acme"); err == nil || !strings.Contains(err.Error(), `"App name"`) {
		t.Fatalf("invalid name followed by end of input: %v", err)
	}
	if strings.Contains(errOut.String(), "--name") || !strings.Contains(errOut.String(), "use lowercase letters") {
		t.Errorf("an invalid answer is explained as a flag, or not at all:\n%s", errOut)
	}
}

// Declining the summary cancels: nothing is answered; input that ends at
// the confirmation is an error, not a yes.
func TestAccessibleConfirmation(t *testing.T) {
	t.Parallel()
	ios, in, _, _ := cmdutil.Test()
	in.WriteString("2\nn\n3\n")
	p := New(ios, true)
	answers := generator.Answers{"name": "shop"}
	err := p.Ask([]*generator.Question{brokerQ}, answers, func(*generator.Question, generator.Answers) (string, error) { return "postgres", nil }, "Go on?")
	if !errors.Is(err, cmdutil.ErrCancel) || answers["broker"] != "" {
		t.Fatalf("declined: %v, answers %v", err, answers)
	}
	if _, err := ask1(p, brokerQ, "postgres"); err == nil || !strings.Contains(err.Error(), "input ended before the options were confirmed") {
		t.Fatalf("end of input at the confirmation: %v", err)
	}
}

// Without confirm, the answers stand as given.
func TestAccessibleWithoutConfirmation(t *testing.T) {
	t.Parallel()
	ios, in, _, errOut := cmdutil.Test()
	in.WriteString("3\n")
	answers := generator.Answers{}
	err := New(ios, true).Ask([]*generator.Question{brokerQ}, answers, func(*generator.Question, generator.Answers) (string, error) { return "postgres", nil }, "")
	if err != nil || answers["broker"] != "nats" {
		t.Fatalf("Ask = %v, answers %v", err, answers)
	}
	if strings.Contains(errOut.String(), "Your answers") {
		t.Errorf("a summary without confirm:\n%s", errOut)
	}
}
