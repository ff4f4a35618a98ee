package repocheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// replace returns s with each old string in oldNew replaced by the new one
// after it, failing the test if an old one is not there (a broken fixture
// that silently stopped testing anything).
func replace(t *testing.T, s string, oldNew ...string) string {
	t.Helper()
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(s, oldNew[i]) {
			t.Fatalf("fixture has no %q", oldNew[i])
		}
		s = strings.Replace(s, oldNew[i], oldNew[i+1], 1)
	}
	return s
}

// wantErr fails t unless err is non-nil and its message contains each of
// the wanted fragments.
func wantErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}

// writeFiles writes files (name to content) into a new directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeFile writes one file into a new directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	return filepath.Join(writeFiles(t, map[string]string{name: content}), name)
}
