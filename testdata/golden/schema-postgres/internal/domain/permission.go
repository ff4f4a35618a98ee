package domain

import (
	"slices"
	"strings"
)

// Permission names an action on a kind of resource: "resource:action", as in
// "projects:read". Every route declares the one it needs; roles are sets of
// them; an object grant gives one of them on a single object.
type Permission string

// The permissions the app knows. Routes use these constants; custom roles
// may only be built from the catalogue below.
const (
	MembersRead      Permission = "members:read"
	MembersWrite     Permission = "members:write"
	OwnersWrite      Permission = "owners:write"
	InvitationsRead  Permission = "invitations:read"
	InvitationsWrite Permission = "invitations:write"
	RolesRead        Permission = "roles:read"
	RolesWrite       Permission = "roles:write"
	GrantsRead       Permission = "grants:read"
	GrantsWrite      Permission = "grants:write"
	APIKeysRead      Permission = "api-keys:read" //nolint:gosec // G101: a permission name, not a credential
	APIKeysWrite     Permission = "api-keys:write"
	AuditRead        Permission = "audit:read"
	TenantWrite      Permission = "tenant:write"
	TenantDelete     Permission = "tenant:delete"
)

// Permissions on projects.
const (
	ProjectsRead   Permission = "projects:read"
	ProjectsWrite  Permission = "projects:write"
	ProjectsDelete Permission = "projects:delete"
)

// Permissions on customers (added with `saaskit add resource`).
const (
	CustomersRead   Permission = "customers:read"
	CustomersWrite  Permission = "customers:write"
	CustomersDelete Permission = "customers:delete"
)

// Permissions on invoices (added with `saaskit add resource`).
const (
	InvoicesRead   Permission = "invoices:read"
	InvoicesWrite  Permission = "invoices:write"
	InvoicesDelete Permission = "invoices:delete"
)

// Resource is the part of p before the colon: the kind of object it is about.
func (p Permission) Resource() string {
	resource, _, _ := strings.Cut(string(p), ":")
	return resource
}

// The built-in roles, from most to least privileged. Every tenant has them;
// custom roles are added per tenant.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleViewer = "viewer"
)

// builtinRoles lists the built-in roles from most to least privileged.
var builtinRoles = []string{RoleOwner, RoleAdmin, RoleMember, RoleViewer}

// PermissionInfo is one entry of the permission catalogue.
type PermissionInfo struct {
	Name Permission
	// MinRole is the least privileged built-in role that holds the
	// permission; every role above it holds it too.
	MinRole string
	// Doc says what the permission allows.
	Doc string
}

// catalogue is every permission of the app. A resource's permissions are
// registered here (read for viewers, write for members, management for
// admins); owners hold everything.
var catalogue = []PermissionInfo{
	{MembersRead, RoleViewer, "List the tenant's members"},
	{RolesRead, RoleViewer, "List the tenant's roles"},
	{MembersWrite, RoleAdmin, "Change members' roles and remove members (never above the caller's own permissions)"},
	{InvitationsRead, RoleAdmin, "List the tenant's pending invitations"},
	{InvitationsWrite, RoleAdmin, "Invite people by email and revoke pending invitations (to or of a role within the caller's own permissions)"},
	{RolesWrite, RoleAdmin, "Create, change and delete custom roles (within the permissions the caller holds)"},
	{GrantsRead, RoleAdmin, "List object grants"},
	{GrantsWrite, RoleAdmin, "Grant and revoke permissions on single objects"},
	{APIKeysRead, RoleAdmin, "List the tenant's API keys"},
	{APIKeysWrite, RoleAdmin, "Create and revoke API keys"},
	{AuditRead, RoleAdmin, "Read the tenant's audit log"},
	{OwnersWrite, RoleOwner, "Make members owners and change or remove owners"},
	{TenantWrite, RoleAdmin, "Rename the tenant"},
	{TenantDelete, RoleOwner, "Delete the tenant with all of its data (with a user's session, never an API key)"},
	// Resources (the sample projects, then those added with `saaskit add
	// resource`), below this line.
	{ProjectsRead, RoleViewer, "List and read projects"},
	{ProjectsWrite, RoleMember, "Create and change projects"},
	{ProjectsDelete, RoleAdmin, "Delete projects"},
	{CustomersRead, RoleViewer, "List and read customers"},
	{CustomersWrite, RoleMember, "Create and change customers"},
	{CustomersDelete, RoleAdmin, "Delete customers"},
	{InvoicesRead, RoleViewer, "List and read invoices"},
	{InvoicesWrite, RoleMember, "Create and change invoices"},
	{InvoicesDelete, RoleAdmin, "Delete invoices"},
}

// Catalogue returns every permission the app knows, in a stable order.
func Catalogue() []PermissionInfo {
	return slices.Clone(catalogue)
}

// KnownPermission reports whether p is in the catalogue.
func KnownPermission(p Permission) bool {
	return slices.ContainsFunc(catalogue, func(i PermissionInfo) bool { return i.Name == p })
}

// BuiltinRoles returns the built-in roles from most to least privileged.
func BuiltinRoles() []string {
	return slices.Clone(builtinRoles)
}

// IsBuiltinRole reports whether name is one of the built-in roles.
func IsBuiltinRole(name string) bool {
	return slices.Contains(builtinRoles, name)
}

// BuiltinPermissions returns what built-in role holds: every catalogue
// permission whose MinRole is role or a less privileged one. It returns nil
// for a name that is not a built-in role. The set is shared by every
// caller (it is read on every request and held by every realtime client):
// Permissions' methods return new sets, and nothing changes one in place.
func BuiltinPermissions(role string) Permissions {
	return builtinSets[role]
}

// builtinSets are the built-in roles' permissions (see BuiltinPermissions),
// each clipped so that an append copies it.
var builtinSets = func() map[string]Permissions {
	sets := make(map[string]Permissions, len(builtinRoles))
	for rank, role := range builtinRoles {
		var ps []Permission
		for _, info := range catalogue {
			if slices.Index(builtinRoles, info.MinRole) >= rank {
				ps = append(ps, info.Name)
			}
		}
		sets[role] = slices.Clip(NewPermissions(ps...))
	}
	return sets
}()

// ParsePermission checks that s is a permission of the catalogue and
// returns it, or an EINVALID error naming it.
func ParsePermission(s string) (Permission, error) {
	p := Permission(s)
	if !KnownPermission(p) {
		return "", Errorf(EINVALID, "%q is not a permission of this app (resource:action, as listed in the roles of GET /v1/roles)", truncate(s))
	}
	return p, nil
}

// Permissions is a set of permissions, kept sorted and without duplicates.
type Permissions []Permission

// NewPermissions returns the set of ps.
func NewPermissions(ps ...Permission) Permissions {
	set := slices.Clone(ps)
	slices.Sort(set)
	return Permissions(slices.Compact(set))
}

// Has reports whether the set holds p.
func (s Permissions) Has(p Permission) bool {
	_, found := slices.BinarySearch(s, p)
	return found
}

// Covers reports whether s holds every permission of other: a caller
// holding s may hand other on (invite to it, assign it, grant it).
func (s Permissions) Covers(other Permissions) bool {
	for _, p := range other {
		if !s.Has(p) {
			return false
		}
	}
	return true
}

// Intersect returns the permissions both s and other hold.
func (s Permissions) Intersect(other Permissions) Permissions {
	var out Permissions
	for _, p := range s {
		if other.Has(p) {
			out = append(out, p)
		}
	}
	return out
}

// Strings returns the permissions as strings.
func (s Permissions) Strings() []string {
	out := make([]string, len(s))
	for i, p := range s {
		out[i] = string(p)
	}
	return out
}
