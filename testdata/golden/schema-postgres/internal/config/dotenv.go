package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/joho/godotenv"
)

// DotenvFile is the file of local settings the program reads from its
// working directory when it is there: a copy of .env.example.
const DotenvFile = ".env"

// WithDotenv returns a getenv that answers from the environment (lookup)
// and, for variables the environment does not set, from the dotenv file at
// path: the environment always wins, so a deployment's settings are never
// overridden by a stray file. A missing file is no error and adds nothing.
// The file is read once, now; it is the format a POSIX shell sources with
// `set -a; . ./.env` (KEY=value lines, # comments, values quoted with ' or
// ").
func WithDotenv(path string, lookup func(string) (string, bool)) (func(string) string, error) {
	file, err := readDotenv(path)
	if err != nil {
		return nil, err
	}
	return func(key string) string {
		if v, ok := lookup(key); ok {
			return v
		}
		return file[key]
	}, nil
}

func readDotenv(path string) (map[string]string, error) {
	f, err := os.Open(path) //nolint:gosec // the operator's own settings file, named by the program
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	values, err := godotenv.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return values, nil
}
