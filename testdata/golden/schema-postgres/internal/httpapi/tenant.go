package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/logging"
	"example.com/acme/internal/postgres"
	"example.com/acme/internal/postgres/tenantdb"
)

// TenantHeader names the tenant of a request, for API clients and tests;
// browsers use the subdomain (acme.BASE_DOMAIN).
const TenantHeader = "X-Tenant"

// Tenants is what the API needs of the tenant registry and of tenant data.
// postgres.Tenants implements it in every tenancy mode.
type Tenants interface {
	// Resolve returns the active tenant with slug, or ENOTFOUND.
	Resolve(ctx context.Context, slug string) (domain.Tenant, error)
	// CreateOwned registers, provisions and migrates a tenant whose owner
	// is the user owner.
	CreateOwned(ctx context.Context, slug, name, owner string) (domain.Tenant, error)
	// Rename changes the display name of the active tenant with slug.
	Rename(ctx context.Context, slug, name string) (domain.Tenant, error)
	// Delete removes the tenant with slug and all of its data, at once
	// and everywhere (see postgres.Tenants.Delete).
	Delete(ctx context.Context, slug string) (domain.Tenant, error)
	// InTenant runs fn in a transaction confined to tenant t: one unit of
	// work, whose queries, enqueue, audit and publish-after-commit are
	// every state change's way in (see postgres.Unit).
	InTenant(ctx context.Context, t domain.Tenant, fn func(context.Context, *postgres.Unit) error) error
	// ReadTenant runs fn, a read of t's data in one statement, confined
	// to t as InTenant is, in one round trip.
	ReadTenant(ctx context.Context, t domain.Tenant, fn func(context.Context, *tenantdb.Queries) error) error
}

type tenantKey struct{}

// requireTenant is the middleware of every tenant-scoped operation. It runs
// after authentication (which answers 401 whatever the tenant, so anonymous
// callers cannot probe tenants) and before anything else: before the
// permission check and before the input is parsed. It takes the tenant's
// slug from the Host's subdomain of baseDomain or from X-Tenant (both must
// agree when both are given); an API key, which belongs to one tenant,
// names its own when neither does. It resolves the slug and hands the
// tenant to the handler through the context. A route whose path names its
// tenant (param, as in /v1/tenants/{slug}) takes that one, and a subdomain
// or header naming another is 400. A request that names no tenant is 400,
// saying how to name one; an unknown tenant is 404, the answer the
// permission check gives a caller who is not a member.
func requireTenant(api huma.API, logger *slog.Logger, baseDomain string, tenants Tenants, param string) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		r, _ := humago.Unwrap(ctx)
		named := ""
		if param != "" {
			named = ctx.Param(param)
		}
		withTenant(api, logger, baseDomain, tenants, ctx, r, named, next)
	}
}

// withTenant resolves the tenant r names (named, when its path names it)
// and calls next with it in the context (and on every log line), or
// answers the error.
//
// @contextcheck(req_has_ctx)
func withTenant(api huma.API, logger *slog.Logger, baseDomain string, tenants Tenants, ctx huma.Context, r *http.Request, named string, next func(huma.Context)) {
	slug, err := tenantSlug(r.Host, r.Header.Get(TenantHeader), baseDomain)
	if err != nil {
		writeError(api, ctx, r, logger, err)
		return
	}
	if named != "" {
		if slug != "" && slug != named {
			_ = huma.WriteErr(api, ctx, http.StatusBadRequest, fmt.Sprintf(
				"The path names tenant %q but the host or the %s header names another.", truncateDetail(named), TenantHeader))
			return
		}
		slug = named
	}
	if slug == "" {
		if p, ok := domain.PrincipalFrom(ctx.Context()); ok && p.APIKey != nil { //nolint:contextcheck // ctx.Context() derives from r.Context()
			slug = p.APIKey.TenantSlug
		}
	}
	if slug == "" {
		_ = huma.WriteErr(api, ctx, http.StatusBadRequest, fmt.Sprintf(
			"No tenant named: send the request to the tenant's subdomain of %s, name it in the %s header, or use one of its API keys.",
			baseDomain, TenantHeader))
		return
	}
	// ctx.Context(), not r.Context(): it carries what earlier middleware
	// (authentication) added.
	t, err := tenants.Resolve(ctx.Context(), slug) //nolint:contextcheck // ctx.Context() derives from r.Context()
	if err != nil {
		writeError(api, ctx, r, logger, err)
		return
	}
	noteTenant(ctx.Context(), t.Slug) //nolint:contextcheck // ctx.Context() derives from r.Context()
	tenantCtx := logging.With(context.WithValue(ctx.Context(), tenantKey{}, t), slog.String("tenant", t.Slug))
	next(huma.WithContext(ctx, tenantCtx)) //nolint:contextcheck // tenantCtx derives from the request's context
}

// tenantSlug picks the slug a request names: the subdomain of host under
// baseDomain (a reserved name such as api or www is the product's, not a
// tenant's) or the header value; "" when it names none.
func tenantSlug(host, header, baseDomain string) (string, error) {
	sub := subdomain(host, baseDomain)
	header = strings.TrimSpace(header)
	switch {
	case sub != "" && header != "" && sub != header:
		return "", domain.Errorf(domain.EINVALID, "The host names tenant %q but the %s header names another.", sub, TenantHeader)
	case sub != "":
		return sub, nil
	}
	return header, nil
}

// subdomain returns the label of host directly under baseDomain ("acme" for
// acme.example.com), or "" when host is not such a name or the label is a
// reserved one.
func subdomain(host, baseDomain string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	label, ok := strings.CutSuffix(host, "."+baseDomain)
	if !ok || label == "" || domain.IsReservedSlug(label) {
		return ""
	}
	// a.b.example.com comes back as "a.b", which resolves to no tenant.
	return label
}

// tenantScoped adapts a handler of a tenant-scoped operation: it gets the
// tenant requireTenant resolved. An operation registered without that
// middleware fails closed.
func tenantScoped[I, O any](handler func(context.Context, domain.Tenant, *I) (*O, error)) func(context.Context, *I) (*O, error) {
	return func(ctx context.Context, input *I) (*O, error) {
		t, ok := ctx.Value(tenantKey{}).(domain.Tenant)
		if !ok || t.ID == "" {
			return nil, domain.Errorf(domain.EINTERNAL, "tenant-scoped operation registered without the tenant middleware")
		}
		return handler(ctx, t, input)
	}
}

// writeError answers from a middleware with the problem register's
// operations answer for err.
//
// @contextcheck(req_has_ctx)
func writeError(api huma.API, ctx huma.Context, r *http.Request, logger *slog.Logger, err error) {
	err = unavailable(err)
	status := errorStatus(err)
	if status >= http.StatusInternalServerError {
		logger.ErrorContext(r.Context(), "request failed", slog.Int("status", status), slog.Any("error", err))
	}
	if retryAfter, ok := retryAfter(status, err); ok {
		ctx.SetHeader("Retry-After", retryAfter)
	}
	if typ := domain.ErrorType(err); typ != "" {
		// A problem of its own type, as the operations answer it.
		body, marshalErr := json.Marshal(&huma.ErrorModel{Type: typ, Title: http.StatusText(status), Status: status, Detail: domain.ErrorMessage(err)})
		if marshalErr == nil {
			ctx.SetHeader("Content-Type", "application/problem+json")
			ctx.SetStatus(status)
			_, _ = ctx.BodyWriter().Write(body)
			return
		}
	}
	_ = huma.WriteErr(api, ctx, status, domain.ErrorMessage(err))
}
