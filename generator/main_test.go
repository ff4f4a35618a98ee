package generator

import (
	"os"
	"testing"
)

// TestMain lets this test binary play sqlc's child process (SQLCChild).
func TestMain(m *testing.M) {
	if code, ok := SQLCChild(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
