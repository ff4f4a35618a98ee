package domain_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/domain"
)

func TestErrorCodeAndMessage(t *testing.T) {
	t.Parallel()

	cause := errors.New("duplicate key value violates unique constraint")
	tests := []struct {
		name    string
		err     error
		code    domain.Code
		message string
	}{
		{"nil", nil, "", ""},
		{"domain error", domain.Errorf(domain.ENOTFOUND, "tenant %q not found", "globex"), domain.ENOTFOUND, `tenant "globex" not found`},
		{"wrapped domain error", fmt.Errorf("load tenant: %w", domain.Wrap(cause, domain.ECONFLICT, "slug is taken")), domain.ECONFLICT, "slug is taken"},
		{"plain error hides its text", cause, domain.EINTERNAL, "An internal error occurred."},
		{"internal domain error hides its text", domain.Errorf(domain.EINTERNAL, "pool exhausted"), domain.EINTERNAL, "An internal error occurred."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.code, domain.ErrorCode(tt.err))
			require.Equal(t, tt.message, domain.ErrorMessage(tt.err))
		})
	}
}

func TestErrorKeepsCause(t *testing.T) {
	t.Parallel()

	cause := errors.New("connection reset")
	err := domain.Wrap(cause, domain.EUNAVAILABLE, "database unavailable")
	require.ErrorIs(t, err, cause)
	require.Equal(t, "unavailable: database unavailable: connection reset", err.Error())
}
