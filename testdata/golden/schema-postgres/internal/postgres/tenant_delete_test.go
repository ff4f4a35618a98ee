package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres"
)

// A deleted tenant is gone at once and for good, in every tenancy mode: it
// resolves nowhere, its storage and data are gone, the deletion is in the
// control-plane audit log, other tenants are untouched, and the slug can
// be taken again, by a new tenant that finds nothing of the old one.
func TestDeleteTenant(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	globex := b.create(t, "globex")
	createProjects(t, b.tenants, acme, "acme", 3)
	createProjects(t, b.tenants, globex, "globex", 2)
	_, err := b.tenants.Resolve(t.Context(), "acme")
	require.NoError(t, err, "cached before the deletion")

	deleted, err := b.tenants.Delete(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, acme.ID, deleted.ID)

	_, err = b.tenants.Resolve(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err), "the cached tenant is dropped at once")
	_, err = b.tenants.Get(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
	list, err := b.tenants.List(t.Context(), "", 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "globex", list[0].Slug)
	require.False(t, storageExists(t, b, deleted.Slug), "its storage is dropped")
	require.Equal(t, []string{"globex-1", "globex-2"}, names(listAll(t, b.tenants, globex)), "other tenants keep theirs")

	var audited int
	require.NoError(t, postgres.ControlPool(b.tenants).QueryRow(t.Context(),
		`SELECT count(*) FROM control_audit_entries WHERE tenant_id = $1 AND action = 'tenant.delete'`, acme.ID).Scan(&audited))
	require.Equal(t, 1, audited, "the deletion outlives the tenant in the control-plane audit log")

	_, err = b.tenants.Delete(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err), "deleting twice finds nothing")
	_, err = b.tenants.Delete(t.Context(), `acme'; --`)
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))

	again := b.create(t, "acme")
	require.NotEqual(t, acme.ID, again.ID)
	require.Empty(t, listAll(t, b.tenants, again), "the slug's new tenant starts empty")
	require.Empty(t, listAll(t, b.tenants, acme), "nothing of the old tenant is left under its id")
}

// A suspended tenant can be deleted too.
func TestDeleteSuspendedTenant(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	b.create(t, "acme")
	_, err := b.tenants.Suspend(t.Context(), "acme")
	require.NoError(t, err)
	_, err = b.tenants.Delete(t.Context(), "acme")
	require.NoError(t, err)
	_, err = b.tenants.Get(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
}

// A deletion that died after marking the tenant (the process was killed)
// leaves it deleting: served to no one, not listed, and finished by the
// next deletion or creation of the slug.
func TestInterruptedDeletionIsFinished(t *testing.T) {
	t.Parallel()
	for _, finish := range []string{"delete", "create"} {
		t.Run(finish, func(t *testing.T) {
			t.Parallel()
			b := setupTenants(t)
			acme := b.create(t, "acme")
			createProjects(t, b.tenants, acme, "acme", 2)
			_, err := postgres.ControlPool(b.tenants).Exec(t.Context(), `UPDATE tenants SET state = 'deleting' WHERE slug = 'acme'`)
			require.NoError(t, err)

			_, err = b.tenants.Resolve(t.Context(), "acme")
			require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err), "a tenant being deleted is not served")
			list, err := b.tenants.List(t.Context(), "", 10)
			require.NoError(t, err)
			require.Empty(t, list)

			switch finish {
			case "delete":
				_, err = b.tenants.Delete(t.Context(), "acme")
				require.NoError(t, err)
				require.False(t, storageExists(t, b, "acme"))
				_, err = b.tenants.Get(t.Context(), "acme")
				require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
			case "create":
				again := b.create(t, "acme")
				require.NotEqual(t, acme.ID, again.ID)
				require.Empty(t, listAll(t, b.tenants, again))
			}
		})
	}
}

// Renaming changes the display name everywhere at once; the slug stays.
func TestRenameTenant(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	_, err := b.tenants.Resolve(t.Context(), "acme")
	require.NoError(t, err)

	renamed, err := b.tenants.Rename(t.Context(), "acme", "Acme Corporation")
	require.NoError(t, err)
	require.Equal(t, acme.ID, renamed.ID)
	require.Equal(t, "Acme Corporation", renamed.Name)
	got, err := b.tenants.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, "Acme Corporation", got.Name, "the cached name is not served after a rename")

	_, err = b.tenants.Rename(t.Context(), "acme", "")
	require.Equal(t, domain.EINVALID, domain.ErrorCode(err))
	_, err = b.tenants.Rename(t.Context(), "initech", "Initech")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
	_, err = b.tenants.Suspend(t.Context(), "acme")
	require.NoError(t, err)
	_, err = b.tenants.Rename(t.Context(), "acme", "Suspended Acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err), "only an active tenant is renamed")
}
