package domain_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
)

func TestBuiltinRolesNest(t *testing.T) {
	t.Parallel()
	roles := domain.BuiltinRoles()
	require.Equal(t, []string{"owner", "admin", "member", "viewer"}, roles)
	require.Len(t, domain.BuiltinPermissions(domain.RoleOwner), len(domain.Catalogue()), "owners hold every permission")
	for i := 1; i < len(roles); i++ {
		above, below := domain.BuiltinPermissions(roles[i-1]), domain.BuiltinPermissions(roles[i])
		require.True(t, above.Covers(below), "%s holds everything %s does", roles[i-1], roles[i])
		require.False(t, below.Covers(above), "%s holds something %s does not", roles[i-1], roles[i])
	}
	require.False(t, domain.BuiltinPermissions(domain.RoleAdmin).Has(domain.OwnersWrite), "only owners make owners")
	require.Nil(t, domain.BuiltinPermissions("emperor"))
}

func TestPermissionsAndNames(t *testing.T) {
	t.Parallel()
	p, err := domain.ParsePermission("projects:read")
	require.NoError(t, err)
	require.Equal(t, "projects", p.Resource())
	for _, bad := range []string{"", "projects", "no_such_resource:read", "PROJECTS:READ", "projects:read "} {
		_, parseErr := domain.ParsePermission(bad)
		require.Equal(t, domain.EINVALID, domain.ErrorCode(parseErr), bad)
	}
	set := domain.NewPermissions(domain.ProjectsWrite, domain.ProjectsRead, domain.ProjectsRead)
	require.Equal(t, domain.Permissions{domain.ProjectsRead, domain.ProjectsWrite}, set)
	require.Equal(t, domain.Permissions{domain.ProjectsRead}, set.Intersect(domain.NewPermissions(domain.ProjectsRead, domain.MembersRead)))

	for _, ok := range []string{"auditor", "read-only", "a1"} {
		require.NoError(t, domain.ValidateRoleName(ok), ok)
	}
	for _, bad := range []string{"owner", "x", "Auditor", "1st", "a--b", "a-", "a b"} {
		require.Error(t, domain.ValidateRoleName(bad), bad)
	}
	email, err := domain.NormalizeEmail("  Ada@Example.COM ")
	require.NoError(t, err)
	require.Equal(t, "ada@example.com", email)
	for _, bad := range []string{"", "ada", "Ada <ada@example.com>", "ada@example.com\r\nBcc: x@y.z"} {
		_, err := domain.NormalizeEmail(bad)
		require.Error(t, err, bad)
	}
	require.Error(t, domain.ValidatePassword("short"))
	require.NoError(t, domain.ValidatePassword("long enough"))
}
