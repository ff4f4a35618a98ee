package transition

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/saaskit/saaskit/generator"
)

// markUnmerged records each conflicted file in git's index as a merge
// leaves it: the common ancestor (the old kit's render), yours and the
// new kit's render as stages 1, 2 and 3, so `git status` lists it as
// unmerged ("both modified"), `git diff` shows the combined diff, and `git
// add` after editing marks it resolved. Files a side lacks have no stage
// for that side. Outside a git work tree it does nothing.
func markUnmerged(ctx context.Context, root string, base, theirs *generator.Plan, changes []Change) error {
	var conflicts []Change
	for _, c := range changes {
		if c.Action == Conflict {
			conflicts = append(conflicts, c)
		}
	}
	if len(conflicts) == 0 {
		return nil
	}
	if out, err := git(ctx, root, nil, "rev-parse", "--is-inside-work-tree"); err != nil || strings.TrimSpace(string(out)) != "true" {
		return nil
	}
	var info bytes.Buffer
	for _, c := range conflicts {
		mode := "100644"
		if c.Mode&0o111 != 0 {
			mode = "100755"
		}
		fmt.Fprintf(&info, "0 %s\t%s\n", strings.Repeat("0", 40), c.Path)
		for stage, content := range [][]byte{contentOf(base, c.Path), c.Old, contentOf(theirs, c.Path)} {
			if content == nil {
				continue
			}
			sha, err := git(ctx, root, content, "hash-object", "-w", "--no-filters", "--stdin")
			if err != nil {
				return err
			}
			fmt.Fprintf(&info, "%s %s %d\t%s\n", mode, strings.TrimSpace(string(sha)), stage+1, c.Path)
		}
	}
	_, err := git(ctx, root, info.Bytes(), "update-index", "--index-info")
	return err
}

func contentOf(p *generator.Plan, path string) []byte {
	if f := p.File(path); f != nil {
		return f.Content
	}
	return nil
}

// git runs git in dir with stdin and returns its standard output.
func git(ctx context.Context, dir string, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}
