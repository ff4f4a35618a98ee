package domain

import (
	"slices"
	"strings"
	"time"
)

// Tenant is one customer organisation. Its slug names its subdomain
// (slug.BASE_DOMAIN), the X-Tenant header value that selects it, and the
// Postgres object holding its data.
type Tenant struct {
	ID        string // UUID
	Slug      string
	Name      string
	CreatedAt time.Time
	// Suspended tenants resolve nowhere until resumed; only operators'
	// listings (and the worker, to hold their jobs) see them.
	Suspended bool
}

// Slug limits. SlugMaxLength keeps every Postgres name derived from a slug
// ("t_" + slug for a schema, a prefix of at most 23 bytes + slug for a
// database) within Postgres' 63-byte identifier limit, so no two slugs can
// collide after truncation.
const (
	SlugMinLength = 3
	SlugMaxLength = 40
	// NameMaxLength bounds a tenant's display name.
	NameMaxLength = 100
)

// reservedSlugs are names a tenant may not take: subdomains the product
// itself uses, names that would read as something other than a tenant, and
// the names of Postgres' own databases, roles and schemas (template0,
// template1, postgres, public). The names derived from a slug carry a
// prefix today (t_acme, shop_acme), so none collides with those; but a
// tenant so named reads as Postgres' own object in logs and tooling, and a
// naming without a prefix must not inherit such tenants. The names Postgres
// keeps by prefix (pg_*, information_schema) cannot be slugs: a slug has no
// underscore.
var reservedSlugs = []string{
	"admin", "api", "app", "assets", "auth", "billing", "blog", "cdn", "dashboard",
	"default", "dev", "docs", "help", "login", "logout", "mail", "metrics",
	"postgres", "public", "root", "signup", "smtp", "staging", "static",
	"status", "support", "system", "template0", "template1", "tenant", "tenants",
	"test", "www",
}

// ValidateSlug checks the slug of a new tenant and returns an EINVALID
// *Error saying what is wrong with it, or nil: the syntax of
// ValidateSlugSyntax, and not a reserved name.
func ValidateSlug(slug string) error {
	if err := ValidateSlugSyntax(slug); err != nil {
		return err
	}
	if IsReservedSlug(slug) {
		return Errorf(EINVALID, "slug %q is reserved; choose another", slug)
	}
	return nil
}

// IsReservedSlug reports whether name is kept from tenants: the product's
// own subdomains (api, www, ...) and names that would mislead.
func IsReservedSlug(name string) bool {
	return slices.Contains(reservedSlugs, name)
}

// ValidateSlugSyntax checks what makes a slug safe to derive Postgres names
// and subdomains from: 3 to 40 lowercase ASCII letters, digits and single
// hyphens, starting and ending with a letter or digit (a valid DNS label).
// Existing tenants are held to this only, so a name reserved later keeps
// working for the tenant that has it.
//
// Because only lowercase ASCII is allowed and every derived Postgres name is
// quoted, case folding cannot merge two slugs; because the longest derived
// name is 63 bytes, truncation cannot either.
func ValidateSlugSyntax(slug string) error {
	switch {
	case len(slug) < SlugMinLength || len(slug) > SlugMaxLength:
		return Errorf(EINVALID, "slug %q must be %d to %d characters long", truncate(slug), SlugMinLength, SlugMaxLength)
	case strings.IndexFunc(slug, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' }) >= 0:
		return Errorf(EINVALID, "slug %q may contain only lowercase letters a-z, digits and hyphens", slug)
	case slug[0] == '-' || slug[len(slug)-1] == '-':
		return Errorf(EINVALID, "slug %q must start and end with a letter or digit", slug)
	case strings.Contains(slug, "--"):
		return Errorf(EINVALID, "slug %q must not contain consecutive hyphens", slug)
	}
	return nil
}

// ValidateTenantName returns an EINVALID *Error when name is not a usable
// display name.
func ValidateTenantName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return Errorf(EINVALID, "name must not be empty")
	case len(name) > NameMaxLength:
		return Errorf(EINVALID, "name must be at most %d bytes long", NameMaxLength)
	}
	return nil
}

// truncate shortens s for an error message, so a huge input is not echoed.
func truncate(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}
