// Package prompt asks blueprint questions with charmbracelet/huh: one form
// with a page per question on a terminal, or huh's accessible mode (plain
// numbered prompts, one answer per line) for screen readers and piped input.
package prompt

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"charm.land/huh/v2"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/cmdutil"
)

// Huh asks questions with huh forms.
type Huh struct {
	out        io.Writer
	in         io.Reader
	accessible bool
	lines      *lineFeeder
}

// New returns a prompter reading ios.In and writing prompts to ios.ErrOut
// (stdout stays for data).
func New(ios *cmdutil.IOStreams, accessible bool) *Huh {
	h := &Huh{out: ios.ErrOut, in: ios.In, accessible: accessible}
	if accessible {
		h.lines = &lineFeeder{r: bufio.NewReader(ios.In)}
	}
	return h
}

// Ask asks every question in qs; with confirm set, it then shows a summary
// of the answers and asks confirm. It stores the answers only when
// confirmed, and returns cmdutil.ErrCancel when not.
func (h *Huh) Ask(qs []*generator.Question, answers generator.Answers, def cmdutil.DefaultFunc, confirm string) error {
	if !h.accessible {
		return h.askForm(qs, answers, def, confirm)
	}
	asked := answers.Clone()
	for _, q := range qs {
		d, err := def(q, asked)
		if err != nil {
			return err
		}
		v, err := h.askAccessible(q, d)
		if err != nil {
			return err
		}
		asked[q.Name] = v
	}
	if confirm == "" {
		maps.Copy(answers, asked)
		return nil
	}
	ok := true
	h.lines.startField()
	form := huh.NewForm(huh.NewGroup(huh.NewConfirm().Title(summary(qs, asked) + "\n" + confirm).Value(&ok))).
		WithAccessible(true).WithOutput(h.out).WithInput(h.lines).WithTheme(huh.ThemeFunc(huh.ThemeBase))
	if err := form.Run(); err != nil {
		return fmt.Errorf("confirming the options: %w", err)
	}
	if h.lines.ranDry() {
		return errors.New("input ended before the options were confirmed")
	}
	if !ok {
		return cmdutil.ErrCancel
	}
	maps.Copy(answers, asked)
	return nil
}

// summary lists the answers to qs, one per line, by the questions' titles,
// and then the options given as flags.
func summary(qs []*generator.Question, answers generator.Answers) string {
	var b strings.Builder
	b.WriteString("Your answers:\n")
	asked := map[string]bool{}
	for _, q := range qs {
		asked[q.Name] = true
		fmt.Fprintf(&b, "  %s: %s\n", q.Title, answers[q.Name])
	}
	var given []string
	for _, name := range slices.Sorted(maps.Keys(answers)) {
		if !asked[name] {
			given = append(given, fmt.Sprintf("--%s %s", name, answers[name]))
		}
	}
	if len(given) > 0 {
		fmt.Fprintf(&b, "  given: %s\n", strings.Join(given, " "))
	}
	return b.String()
}

// options are q's choices for a select, the default marked.
func options(q *generator.Question, def string) []huh.Option[string] {
	opts := make([]huh.Option[string], len(q.Choices))
	for i, c := range q.Choices {
		label := fmt.Sprintf("%s: %s", c.Label, c.Help)
		if c.Value == def {
			label += " (default)"
		}
		opts[i] = huh.NewOption(label, c.Value)
	}
	return opts
}

// validate checks an answer as it is typed: the field already names the
// question, so the error says only what is wrong; empty takes the default.
func validate(q *generator.Question) func(string) error {
	return func(s string) error {
		if s == "" {
			return nil
		}
		if err := q.Check(s); err != nil {
			var ae *generator.AnswerError
			if errors.As(err, &ae) {
				return errors.New(ae.Reason)
			}
			return err
		}
		return nil
	}
}

// answerError words a refused answer for someone answering questions: by
// the question's title, not by its flag.
func answerError(q *generator.Question, err error) error {
	var ae *generator.AnswerError
	if !errors.As(err, &ae) {
		return err
	}
	if ae.Value == "" {
		return fmt.Errorf("%s: %s", q.Title, ae.Reason)
	}
	return fmt.Errorf("%s %q: %s", q.Title, ae.Value, ae.Reason)
}

// askForm runs one form with a page per question, so the user can move back
// (shift+tab) before anything is decided. Free-text fields show their
// default, computed from what is entered so far (example.com/<name>), and
// take it when left empty.
func (h *Huh) askForm(qs []*generator.Question, answers generator.Answers, def cmdutil.DefaultFunc, confirm string) error {
	values := make([]string, len(qs))
	// upTo returns the answers as the form has them before question i.
	upTo := func(i int) generator.Answers {
		a := answers.Clone()
		for j := range i {
			if v := values[j]; v != "" {
				a[qs[j].Name] = v
			} else if d, err := def(qs[j], a); err == nil {
				a[qs[j].Name] = d
			}
		}
		return a
	}
	groups := make([]*huh.Group, len(qs))
	for i, q := range qs {
		if len(q.Choices) > 0 {
			d, err := def(q, answers)
			if err != nil {
				return err
			}
			values[i] = d
			groups[i] = huh.NewGroup(huh.NewSelect[string]().Title(q.Title).Description(q.Help).
				Options(options(q, d)...).Value(&values[i]))
			continue
		}
		groups[i] = huh.NewGroup(huh.NewInput().Title(q.Title).Description(q.Help).Value(&values[i]).
			PlaceholderFunc(func() string {
				d, _ := def(q, upTo(i))
				return d
			}, &values).
			Validate(validate(q)))
	}
	// With confirm, the last page sums the answers up and asks to go on;
	// shift+tab goes back to change them, Cancel or ctrl+c stops.
	ok := true
	if confirm != "" {
		groups = append(groups, huh.NewGroup(
			huh.NewNote().Title("Your answers").DescriptionFunc(func() string {
				return strings.TrimPrefix(summary(qs, upTo(len(qs))), "Your answers:\n")
			}, &values),
			huh.NewConfirm().Title(confirm).Affirmative("Yes").Negative("Cancel").Value(&ok),
		))
	}
	form := huh.NewForm(groups...).WithOutput(h.out).WithInput(h.in).WithShowHelp(true)
	if err := form.Run(); err != nil {
		if errors.Is(err, huh.ErrUserAborted) {
			return cmdutil.ErrCancel
		}
		return fmt.Errorf("asking for options: %w", err)
	}
	if !ok {
		return cmdutil.ErrCancel
	}
	for i, q := range qs {
		v := values[i]
		if v == "" {
			d, err := def(q, answers)
			if err != nil {
				return err
			}
			v = d
		}
		if err := q.Check(v); err != nil {
			return answerError(q, err)
		}
		answers[q.Name] = v
	}
	return nil
}

// askAccessible asks one question in huh's accessible mode.
func (h *Huh) askAccessible(q *generator.Question, def string) (string, error) {
	value := def
	title := q.Title
	if def != "" {
		title = fmt.Sprintf("%s (default %s)", q.Title, def)
	}
	var field huh.Field
	if len(q.Choices) > 0 {
		field = huh.NewSelect[string]().Title(title).Description(q.Help).Options(options(q, def)...).Value(&value)
	} else {
		field = huh.NewInput().Title(title).Description(q.Help).Value(&value).Validate(validate(q))
	}
	// huh's accessible prompts create a new bufio.Scanner per field, which
	// would swallow every piped answer into the first field; the feeder
	// hands out one byte at a time so each field reads its own line.
	h.lines.startField()
	form := huh.NewForm(huh.NewGroup(field)).WithAccessible(true).WithOutput(h.out).
		WithInput(h.lines).WithTheme(huh.ThemeFunc(huh.ThemeBase))
	if err := form.Run(); err != nil {
		return "", fmt.Errorf("asking for the %s: %w", strings.ToLower(q.Title), err)
	}
	if h.lines.ranDry() {
		return "", fmt.Errorf("input ended before a valid answer to %q", q.Title)
	}
	if value == "" {
		value = def
	}
	if err := q.Check(value); err != nil {
		return "", answerError(q, err)
	}
	return value, nil
}

// lineFeeder reads its source one byte per Read call. When the source ends,
// it completes an unterminated last line, then answers empty lines (which
// make huh settle on its default) and records that the input ran dry, so
// the question is reported instead of silently defaulted.
type lineFeeder struct {
	r        *bufio.Reader
	lastByte byte
	dry      int  // empty lines handed out after the end of input
	dryHere  bool // input ran dry during the current field
}

const maxDryLines = 4

func (f *lineFeeder) startField() { f.dryHere = false }

func (f *lineFeeder) ranDry() bool { return f.dryHere }

func (f *lineFeeder) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := f.r.ReadByte()
	if err == nil {
		p[0], f.lastByte = b, b
		return 1, nil
	}
	if !errors.Is(err, io.EOF) {
		return 0, err
	}
	if f.lastByte != 0 && f.lastByte != '\n' {
		p[0], f.lastByte = '\n', '\n'
		return 1, nil
	}
	f.dryHere = true
	if f.dry >= maxDryLines {
		return 0, io.EOF
	}
	f.dry++
	p[0] = '\n'
	return 1, nil
}
