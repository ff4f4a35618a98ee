package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"strings"
)

// Token prefixes. They tell the kinds of secret apart at a glance (in a
// leaked log, in a secret scanner) and let the API route a bearer token to
// the right lookup.
const (
	SessionPrefix    = "st_"
	APIKeyPrefix     = "ak_"
	InvitationPrefix = "inv_"
	// The single-use tokens of password reset and email verification links.
	PasswordResetPrefix = "pwr_"
	VerificationPrefix  = "ver_"
)

// apiKeyVisible is how many characters of an API key (prefix included) are
// kept in the clear to identify it: enough to tell keys apart, far too few
// to guess the rest (the secret has 130 bits).
const apiKeyVisible = len(APIKeyPrefix) + 8

// NewToken returns a fresh secret: prefix followed by 26 base32 characters
// of crypto/rand (130 bits).
func NewToken(prefix string) string {
	return prefix + rand.Text()
}

// HashToken returns the SHA-256 of a token, the only form of it stored. A
// token is high-entropy and random, so a fast hash is enough: there is
// nothing to brute-force.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// VisiblePrefix returns the part of an API key shown after it was made.
func VisiblePrefix(key string) string {
	return key[:min(len(key), apiKeyVisible)]
}

// IsAPIKey reports whether token has the shape of an API key.
func IsAPIKey(token string) bool {
	return strings.HasPrefix(token, APIKeyPrefix)
}
