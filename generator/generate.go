package generator

//go:generate go run ../internal/lockgen
