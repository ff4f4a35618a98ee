package auth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/auth"
)

func TestHashIsArgon2idInPHCFormat(t *testing.T) {
	t.Parallel()
	h, err := auth.NewHasher(auth.DefaultParams)
	require.NoError(t, err)

	hash, err := h.Hash(t.Context(), "correct horse battery staple")
	require.NoError(t, err)
	require.Regexp(t, `^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, hash)
	again, err := h.Hash(t.Context(), "correct horse battery staple")
	require.NoError(t, err)
	require.NotEqual(t, hash, again, "every hash has its own salt")

	ok, rehash, err := h.Verify(t.Context(), "correct horse battery staple", hash)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, rehash)
	ok, _, err = h.Verify(t.Context(), "correct horse battery stapler", hash)
	require.NoError(t, err)
	require.False(t, ok)

	decoy := h.Decoy()
	params, err := auth.DecodeParams(decoy)
	require.NoError(t, err)
	require.Equal(t, auth.DefaultParams, params, "the decoy costs what a real hash costs")
	ok, rehash, err = h.Verify(t.Context(), "", decoy)
	require.NoError(t, err)
	require.False(t, ok)
	require.False(t, rehash)
	require.Equal(t, decoy, h.Decoy(), "made once with the hasher, not at every login")
}

func TestVerifyAsksForARehashWhenParametersChange(t *testing.T) {
	t.Parallel()
	old, err := auth.NewHasher(auth.DefaultParams)
	require.NoError(t, err)
	hash, err := old.Hash(t.Context(), "pw-pw-pw-pw")
	require.NoError(t, err)
	stronger := auth.DefaultParams
	stronger.Memory = 32 * 1024
	h, err := auth.NewHasher(stronger)
	require.NoError(t, err)
	ok, rehash, err := h.Verify(t.Context(), "pw-pw-pw-pw", hash)
	require.NoError(t, err)
	require.True(t, ok, "old hashes still verify")
	require.True(t, rehash)
}

func TestWeakParametersAreRefused(t *testing.T) {
	t.Parallel()
	for _, p := range []auth.Params{
		{Memory: 4096, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 19456, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32},
		{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 8, KeyLength: 32},
	} {
		_, err := auth.NewHasher(p)
		require.Error(t, err, "%+v", p)
	}
}

func TestMalformedHashesAreRefused(t *testing.T) {
	t.Parallel()
	h, err := auth.NewHasher(auth.DefaultParams)
	require.NoError(t, err)
	salt, key := "AAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("A", 43)
	for _, bad := range []string{
		"",
		"plaintext",
		"$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=18$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2$" + salt + "$" + key,
		"$argon2id$v=19$m=+19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key + "=",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$",
	} {
		_, _, err := h.Verify(t.Context(), "pw", bad)
		require.ErrorIs(t, err, auth.ErrMalformedHash, bad)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	a, b := auth.NewToken(auth.APIKeyPrefix), auth.NewToken(auth.APIKeyPrefix)
	require.NotEqual(t, a, b)
	require.Regexp(t, `^ak_[A-Z2-7]{26}$`, a)
	require.True(t, auth.IsAPIKey(a))
	require.False(t, auth.IsAPIKey(auth.NewToken(auth.SessionPrefix)))
	require.Len(t, auth.HashToken(a), 32)
	require.Equal(t, a[:11], auth.VisiblePrefix(a))
}
