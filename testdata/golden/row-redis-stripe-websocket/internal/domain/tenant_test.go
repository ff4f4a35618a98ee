package domain_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/domain"
)

func TestValidateSlugAccepts(t *testing.T) {
	t.Parallel()

	for _, slug := range []string{
		"abc", "acme", "globex-corp", "a1b2", "123", "x-y-z",
		strings.Repeat("a", domain.SlugMaxLength),
	} {
		require.NoError(t, domain.ValidateSlug(slug), slug)
	}
}

func TestValidateSlugRefuses(t *testing.T) {
	t.Parallel()

	tests := []struct {
		slug   string
		reason string
	}{
		{"", "3 to 40 characters"},
		{"ab", "3 to 40 characters"},
		{strings.Repeat("a", domain.SlugMaxLength+1), "3 to 40 characters"},
		{"Acme", "lowercase letters"},
		{"ACME", "lowercase letters"},
		{"acme_corp", "lowercase letters"},
		{"acme corp", "lowercase letters"},
		{"acme.corp", "lowercase letters"},
		{"acmé", "lowercase letters"},
		{"аcme", "lowercase letters"}, // Cyrillic а: looks like "acme"
		{"acme\x00x", "lowercase letters"},
		{`a"; DROP SCHEMA public; --`, "lowercase letters"},
		{"x'||pg_sleep(1)||'", "lowercase letters"},
		{"-acme", "start and end"},
		{"acme-", "start and end"},
		{"xn--acme", "consecutive hyphens"},
		{"www", "reserved"},
		{"api", "reserved"},
		{"admin", "reserved"},
		{"public", "reserved"},
		{"postgres", "reserved"},
		{"template0", "reserved"},
		{"template1", "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			t.Parallel()

			err := domain.ValidateSlug(tt.slug)
			require.Error(t, err)
			require.Equal(t, domain.EINVALID, domain.ErrorCode(err))
			require.Contains(t, domain.ErrorMessage(err), tt.reason)
		})
	}
}

func TestValidateSlugNeverEchoesHugeInput(t *testing.T) {
	t.Parallel()

	err := domain.ValidateSlug(strings.Repeat("a", 10_000))
	require.Less(t, len(domain.ErrorMessage(err)), 200)
}

// Every name derived from a slug is at most 63 bytes, Postgres' identifier
// limit, so two slugs never map to one truncated name; slugs are lowercase
// ASCII only, so quoting preserves them exactly and case folding cannot merge
// two of them either.
func TestSlugsFitPostgresIdentifiers(t *testing.T) {
	t.Parallel()

	const postgresMaxIdentifier = 63
	longest := strings.Repeat("z", domain.SlugMaxLength)
	require.NoError(t, domain.ValidateSlug(longest))
	require.LessOrEqual(t, len("t_"+longest), postgresMaxIdentifier, "schema t_<slug>")
	require.Error(t, domain.ValidateSlug(strings.ToUpper(longest)), "upper case never reaches Postgres")
}

func TestValidateTenantName(t *testing.T) {
	t.Parallel()

	require.NoError(t, domain.ValidateTenantName("Acme, Inc."))
	for _, name := range []string{"", "   ", strings.Repeat("n", domain.NameMaxLength+1)} {
		err := domain.ValidateTenantName(name)
		require.Equal(t, domain.EINVALID, domain.ErrorCode(err), "%q", name)
	}
}
