package config_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/config"
)

// exampleFile is the repository's .env.example.
const exampleFile = "../../.env.example"

func noEnvironment(string) (string, bool) { return "", false }

// .env.example is what a POSIX shell sources with `set -a; . ./.env` and
// what the program reads: both see the same value for every variable, and
// those values are a configuration Load accepts.
func TestDotenvExampleReadsTheSameInAShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no POSIX shell on PATH")
	}
	getenv, err := config.WithDotenv(exampleFile, noEnvironment)
	require.NoError(t, err)

	// env -i: only what the file sets, printed NUL-separated so values
	// may hold anything.
	out, err := exec.CommandContext(t.Context(), "env", "-i", sh, "-c", "set -a; . "+exampleFile+" && env -0").Output() //nolint:gosec // a fixed command over the repository's own file
	require.NoError(t, err, "the shell sources .env.example")
	inShell := map[string]string{}
	for entry := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		name, value, _ := strings.Cut(entry, "=")
		inShell[name] = value
	}
	names := 0
	for name, value := range inShell {
		if name == "PWD" || name == "SHLVL" || name == "_" {
			continue // the shell's own
		}
		require.Equal(t, value, getenv(name), "%s reads differently in the shell and in the program", name)
		names++
	}
	require.Greater(t, names, 10, "the shell saw the file's settings")
	require.Contains(t, getenv("MAIL_FROM"), " <no-reply@localhost>", "a value with spaces and angle brackets survives both")

	_, err = config.Load(getenv)
	require.NoError(t, err, ".env.example is a valid configuration")
}

// The environment wins over .env; a missing .env adds nothing; a broken one
// is an error naming it.
func TestWithDotenv(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	require.NoError(t, os.WriteFile(path, []byte("# local\nLOG_LEVEL=debug\nMAIL_FROM='Acme <a@example.com>'\nBASE_DOMAIN=\"example.test\"\n"), 0o600))
	environment := map[string]string{"LOG_LEVEL": "warn", "BASE_DOMAIN": ""}
	lookup := func(name string) (string, bool) {
		v, ok := environment[name]
		return v, ok
	}
	getenv, err := config.WithDotenv(path, lookup)
	require.NoError(t, err)
	require.Equal(t, "warn", getenv("LOG_LEVEL"), "the environment wins")
	require.Empty(t, getenv("BASE_DOMAIN"), "even when it sets a variable empty")
	require.Equal(t, "Acme <a@example.com>", getenv("MAIL_FROM"), "what it leaves unset comes from .env")
	require.Empty(t, getenv("HTTP_ADDR"), "what neither sets is unset")

	getenv, err = config.WithDotenv(filepath.Join(dir, "missing"), lookup)
	require.NoError(t, err)
	require.Equal(t, "warn", getenv("LOG_LEVEL"))
	require.Empty(t, getenv("MAIL_FROM"))

	require.NoError(t, os.WriteFile(path, []byte("MAIL_FROM='unterminated\n"), 0o600))
	_, err = config.WithDotenv(path, lookup)
	require.ErrorContains(t, err, "read "+path)
}
