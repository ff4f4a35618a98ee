package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres"
)

// A tenant's GET operation lets a session in on what its last full
// authentication in that tenant found, and an API key on what its last
// one found (postgres.Identity.RememberedIn), saving the round trip of
// authenticating it in front of the request. The check comes with the
// request's first tenant read instead, in the same pipeline
// (postgres.AccessCheck), or in a round trip of its own once the handler
// is done when no read carried it, and nothing is answered before it
// passed. A credential whose access changed since (a session ended or
// expired, a key revoked, a member or a key's creator removed or given
// another role, a tenant suspended) is authenticated afresh, and the
// request is refused as it would have been in full, or served again. So
// revocation takes effect on the very next request, on every instance, as
// without the memory. A GET changes nothing, so serving one twice is safe;
// every other method and routes that are not API operations (a websocket)
// authenticate in full.

// rememberKey marks, in an operation's metadata, the operations that let a
// remembered credential in.
const rememberKey = "remembersSessions"

// remembers reports whether op lets a remembered credential in.
func remembers(op *huma.Operation) bool {
	on, _ := op.Metadata[rememberKey].(bool)
	return on
}

// lateCheck is a request let in on a remembered credential.
type lateCheck struct {
	check *postgres.AccessCheck
	// hint is the tenant the request names (router.tenantHint).
	hint string
	// authenticate authenticates the request's credential in full;
	// authenticate (the middleware) sets it.
	authenticate func(context.Context) error
	// afresh authenticates the request in full and decides its guard
	// again (router.afresh); authorize sets it.
	afresh func(context.Context) (context.Context, error)
	// settled is set once the credential was authenticated in full, or
	// checked, for a refusal (settle): it is done once a request.
	settled bool
	logger  *slog.Logger
}

// again authenticates the request in full and decides its guard again,
// returning the context to serve it in.
func (late *lateCheck) again(ctx context.Context) (context.Context, error) {
	late.settled = true
	if late.afresh == nil {
		return nil, domain.Errorf(domain.EINTERNAL, "a remembered credential reached an operation without its guard")
	}
	return late.afresh(ctx)
}

// settle is for a request let in on a remembered credential that is
// refused before its handler ran: a parameter that fails validation, a
// rate limit. The refusal waits for the check, as an answer does: it
// returns what a full authentication refuses a credential whose access
// changed (401 for a session ended, 403 for a role lowered), nil when the
// credential still holds and the refusal stands.
func (late *lateCheck) settle(ctx context.Context) error {
	if late.settled {
		return nil
	}
	late.settled = true
	err := late.check.Confirm(ctx)
	if !errors.Is(err, postgres.ErrAccessChanged) {
		return err
	}
	if late.afresh != nil {
		_, err = late.afresh(ctx)
		return err
	}
	return late.authenticate(ctx)
}

// settledRefusal is settle for a refusal of status that huma makes on its
// own (its input validation, through huma.NewErrorWithContext): the error
// to answer instead, nil when the refusal stands.
func settledRefusal(ctx huma.Context, status int) huma.StatusError {
	if ctx == nil || status < http.StatusBadRequest || status >= http.StatusInternalServerError || status == http.StatusUnauthorized {
		return nil
	}
	late := lateCheckFrom(ctx.Context())
	if late == nil {
		return nil
	}
	err := late.settle(ctx.Context())
	if err == nil {
		return nil
	}
	if domain.ErrorCode(err) == domain.EUNAUTHORIZED {
		ctx.SetHeader("WWW-Authenticate", apiChallenge)
	}
	refusal, _ := errors.AsType[huma.StatusError](problem(ctx.Context(), late.logger, err))
	return refusal
}

type lateCheckKey struct{}

// withLateCheck marks ctx's request as let in on a remembered credential,
// whose check its tenant reads carry.
func withLateCheck(ctx context.Context, late *lateCheck) context.Context {
	return postgres.WithAccessCheck(context.WithValue(ctx, lateCheckKey{}, late), late.check)
}

// withoutLateCheck is ctx with no check pending: its request was
// authenticated in full.
func withoutLateCheck(ctx context.Context) context.Context {
	return postgres.WithAccessCheck(context.WithValue(ctx, lateCheckKey{}, (*lateCheck)(nil)), nil)
}

// lateCheckFrom returns ctx's lateCheck, nil for a request authenticated
// in full.
func lateCheckFrom(ctx context.Context) *lateCheck {
	late, _ := ctx.Value(lateCheckKey{}).(*lateCheck)
	return late
}

// serveChecked runs handler and, for a request let in on a remembered
// session, answers once the session's check passed; a session whose access
// changed is authenticated afresh, and the request refused or served
// again.
func serveChecked[I, O any](ctx context.Context, logger *slog.Logger, input *I, handler func(context.Context, *I) (*O, error)) (*O, error) {
	late := lateCheckFrom(ctx)
	if late == nil {
		return handler(ctx, input)
	}
	out, err := handler(ctx, input)
	if !errors.Is(err, postgres.ErrAccessChanged) {
		checkErr := late.check.Confirm(ctx)
		if checkErr == nil {
			return out, err
		}
		if !errors.Is(checkErr, postgres.ErrAccessChanged) {
			return nil, checkErr
		}
	}
	fresh, err := late.again(ctx)
	if domain.ErrorCode(err) == domain.EUNAUTHORIZED {
		return nil, huma.ErrorWithHeaders(problem(ctx, logger, err), http.Header{"WWW-Authenticate": {apiChallenge}})
	}
	if err != nil {
		return nil, err
	}
	return handler(fresh, input)
}
