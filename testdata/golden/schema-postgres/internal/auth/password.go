// Package auth holds the secrets of identity: password hashing with
// argon2id, and the opaque tokens (sessions, API keys, invitations) of which
// only a SHA-256 hash is ever stored.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	// Memory is in KiB.
	Memory      uint32
	Iterations  uint32
	Parallelism uint8
	SaltLength  uint32
	KeyLength   uint32
}

// DefaultParams are OWASP's recommended minimum for argon2id (Password
// Storage Cheat Sheet): 19 MiB of memory, 2 iterations, 1 degree of
// parallelism; a 16-byte salt and a 32-byte hash.
var DefaultParams = Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Bounds on parameters read back from a stored hash, so a corrupted or
// hostile row cannot make a login allocate gigabytes or spin for minutes.
const (
	maxMemory     = 1 << 21 // KiB: 2 GiB
	maxIterations = 64
	maxKeyLength  = 128
)

// ErrMalformedHash reports a stored hash that is not an argon2id PHC string
// this package can verify.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// Hasher hashes and verifies passwords with argon2id and a fixed set of
// parameters. At most a few hashes run at once (each holds Params.Memory),
// so a burst of logins queues instead of exhausting memory.
type Hasher struct {
	params Params
	slots  chan struct{}
	decoy  string // a hash of nothing anyone knows, verified for unknown users
}

// NewHasher returns a Hasher for p. Parameters below OWASP's minimum
// (DefaultParams) are refused.
func NewHasher(p Params) (*Hasher, error) {
	if p.Memory < DefaultParams.Memory || p.Iterations < DefaultParams.Iterations || p.Parallelism < 1 ||
		p.SaltLength < 16 || p.KeyLength < 32 || p.Memory > maxMemory || p.Iterations > maxIterations || p.KeyLength > maxKeyLength {
		return nil, fmt.Errorf("auth: argon2id parameters %+v are outside the accepted range (at least m=%d KiB, t=%d, p=1)",
			p, DefaultParams.Memory, DefaultParams.Iterations)
	}
	h := &Hasher{params: p, slots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
	decoy, err := h.hash(rand.Text())
	if err != nil {
		return nil, err
	}
	h.decoy = decoy
	return h, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params {
	return h.params
}

// Hash returns password's hash in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, base64 without padding.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash(password)
}

func (h *Hasher) hash(password string) (string, error) {
	salt := make([]byte, h.params.SaltLength)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.params.Iterations, h.params.Memory, h.params.Parallelism, h.params.KeyLength)
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, and whether encoded was
// made with other parameters than the Hasher's (the caller should then
// store a new Hash). A malformed encoded is an error wrapping
// ErrMalformedHash.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.Memory, p.Parallelism, uint32(len(want))) //nolint:gosec // G115: decode bounds the length by maxKeyLength
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != h.params, nil
}

// Decoy returns a hash, made with the Hasher's parameters, of a random
// password nobody knows. A login for an unknown account verifies the
// password against it, so that it costs what a wrong password for a real
// account costs and cannot tell whether the account exists.
func (h *Hasher) Decoy() string {
	return h.decoy
}

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

var b64 = base64.RawStdEncoding

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// DecodeParams returns the parameters a stored hash was made with.
func DecodeParams(encoded string) (Params, error) {
	p, _, _, err := decode(encoded)
	return p, err
}

func decode(encoded string) (p Params, salt, key []byte, err error) {
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" || fields[1] != "argon2id" || fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, ErrMalformedHash
	}
	// Scan, then print back: only the canonical form is accepted.
	var m, t, par uint32
	if _, scanErr := fmt.Sscanf(fields[3], "m=%d,t=%d,p=%d", &m, &t, &par); scanErr != nil ||
		fmt.Sprintf("m=%d,t=%d,p=%d", m, t, par) != fields[3] {
		return Params{}, nil, nil, ErrMalformedHash
	}
	if salt, err = b64.Strict().DecodeString(fields[4]); err != nil {
		return Params{}, nil, nil, ErrMalformedHash
	}
	if key, err = b64.Strict().DecodeString(fields[5]); err != nil {
		return Params{}, nil, nil, ErrMalformedHash
	}
	if m < 8 || m > maxMemory || t < 1 || t > maxIterations || par < 1 || par > 255 ||
		len(salt) < 8 || len(key) < 16 || len(key) > maxKeyLength {
		return Params{}, nil, nil, ErrMalformedHash
	}
	p = Params{
		Memory:      m,
		Iterations:  t,
		Parallelism: uint8(par),
		SaltLength:  uint32(len(salt)), //nolint:gosec // G115: bounded by the string's length
		KeyLength:   uint32(len(key)),  //nolint:gosec // G115: bounded above
	}
	return p, salt, key, nil
}
