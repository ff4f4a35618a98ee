package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/validation"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/acme/shop-api/internal/domain"
)

// statusOf maps each domain error code to its HTTP status. A code missing
// here is answered as 500.
var statusOf = map[domain.Code]int{
	domain.ECONFLICT:     http.StatusConflict,
	domain.EFORBIDDEN:    http.StatusForbidden,
	domain.EINTERNAL:     http.StatusInternalServerError,
	domain.EINVALID:      http.StatusUnprocessableEntity,
	domain.ENOTFOUND:     http.StatusNotFound,
	domain.EUNAUTHORIZED: http.StatusUnauthorized,
	domain.EUNAVAILABLE:  http.StatusServiceUnavailable,
	domain.ETHROTTLED:    http.StatusTooManyRequests,
}

// register adds a typed operation whose errors go through problem, so a
// handler returns domain errors and never chooses a status itself.
func register[I, O any](api huma.API, logger *slog.Logger, op huma.Operation, handler func(context.Context, *I) (*O, error)) {
	huma.Register(api, op, func(ctx context.Context, input *I) (*O, error) {
		out, err := serveChecked(ctx, logger, input, handler)
		if err != nil {
			return nil, problem(ctx, logger, err)
		}
		return out, nil
	})
}

// unavailableRetryAfter is the Retry-After of a 503 whose error does not say
// when to come back: long enough not to hammer a dependency that is coming
// back up, short enough for a client to wait out.
const unavailableRetryAfter = 5 * time.Second

// A body with fields the operation does not accept (a role, a tenant id, a
// password hash) is a request the client must not make, not a value to
// correct: huma reports it as a 422 validation failure, and this makes it a
// 400 when those fields are all that is wrong. huma's error constructor is
// its documented extension point, so it is set once, for every API.
func init() {
	validationError := huma.NewError
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		if status == http.StatusUnprocessableEntity && onlyUnexpectedFields(errs) {
			status, msg = http.StatusBadRequest, "The request body has fields this operation does not accept."
		}
		if status == http.StatusBadRequest {
			if textErr := bodyTextError(errs); textErr != nil {
				// Well-formed JSON whose text no column can hold: the body
				// parses, its content is wrong (see textJSON).
				status, msg = http.StatusUnprocessableEntity, "The request body has text that cannot be stored: "+textErr.Error()+"."
			}
		}
		return withoutValues(validationError(status, msg, errs...))
	}
	// A request let in on a remembered credential is refused for its input
	// only once the credential's check passed (see lateCheck.settle).
	withContext := huma.NewErrorWithContext
	huma.NewErrorWithContext = func(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		if refusal := settledRefusal(ctx, status); refusal != nil {
			return refusal
		}
		return withContext(ctx, status, msg, errs...)
	}
}

// bodyTextError returns errInvalidUTF8, errSurrogate or errNUL when one of errs is the
// decoding failure textJSON reported for it, nil otherwise.
func bodyTextError(errs []error) error {
	for _, err := range errs {
		d, ok := errors.AsType[*huma.ErrorDetail](err)
		if !ok || d.Location != "body" {
			continue
		}
		for _, textErr := range []error{errInvalidUTF8, errSurrogate, errNUL} {
			if d.Message == textErr.Error() {
				return textErr
			}
		}
	}
	return nil
}

// withoutValues drops the submitted values huma echoes in each error
// detail. The location and the message say what to fix; the value is the
// client's own, so echoing it helps no one, and it may be a secret (a
// password, a token) that would then sit in every proxy's and client's log.
// Dropping all of them, rather than redacting the fields known to be
// secret, keeps a field added later from leaking by default.
func withoutValues(err huma.StatusError) huma.StatusError {
	if model, ok := err.(*huma.ErrorModel); ok {
		for _, d := range model.Errors {
			d.Value = nil
		}
	}
	return err
}

// onlyUnexpectedFields reports whether errs are all unexpected properties.
func onlyUnexpectedFields(errs []error) bool {
	for _, err := range errs {
		d, ok := errors.AsType[*huma.ErrorDetail](err)
		if !ok || d.Message != validation.MsgUnexpectedProperty {
			return false
		}
	}
	return len(errs) > 0
}

// problem turns err into an RFC 9457 problem with the status of its domain
// code. Server-side failures are logged with the request's context; their
// details never reach the client.
func problem(ctx context.Context, logger *slog.Logger, err error) error {
	if _, ok := errors.AsType[huma.StatusError](err); ok {
		return err
	}
	err = unavailable(err)
	status := statusFor(ctx, logger, err)
	model := &huma.ErrorModel{
		Type:   domain.ErrorType(err),
		Title:  http.StatusText(status),
		Status: status,
		Detail: domain.ErrorMessage(err),
	}
	if retryAfter, ok := retryAfter(status, err); ok {
		return huma.ErrorWithHeaders(model, http.Header{"Retry-After": {retryAfter}})
	}
	return model
}

// unavailable gives an error that carries no domain code of its own (or
// EINTERNAL) the code EUNAVAILABLE when it says a dependency could not be
// reached: a failed connection, a network error, or a deadline passed while
// waiting for a connection. Those are outages that end, not bugs, and the
// client should hear 503 and when to retry rather than 500. Every adapter's
// errors pass through here, so no adapter has to classify its own.
func unavailable(err error) error {
	if domain.ErrorCode(err) != domain.EINTERNAL {
		return err
	}
	_, connect := errors.AsType[*pgconn.ConnectError](err)
	_, network := errors.AsType[net.Error](err)
	if !connect && !network && !pgconn.Timeout(err) {
		return err
	}
	return domain.Wrap(err, domain.EUNAVAILABLE, "The service is temporarily unavailable; try again later.")
}

// retryAfter returns the Retry-After header of an answer with status, if it
// has one: what the error says to wait, whole seconds rounded up; for an
// unavailable answer whose error does not say, unavailableRetryAfter.
func retryAfter(status int, err error) (string, bool) {
	d := domain.ErrorRetryAfter(err)
	switch status {
	case http.StatusTooManyRequests:
	case http.StatusServiceUnavailable:
		if d <= 0 {
			d = unavailableRetryAfter
		}
	default:
		return "", false
	}
	return strconv.Itoa(max(1, int((d.Milliseconds()+999)/1000))), true
}

// statusFor returns the status of err's domain code, logging server-side
// failures with the request's context.
func statusFor(ctx context.Context, logger *slog.Logger, err error) int {
	status := errorStatus(err)
	if status >= http.StatusInternalServerError {
		logger.ErrorContext(ctx, "request failed", slog.Int("status", status), slog.Any("error", err))
	}
	return status
}

// errorStatus returns the status of err's domain code.
func errorStatus(err error) int {
	status, ok := statusOf[domain.ErrorCode(err)]
	if !ok {
		return http.StatusInternalServerError
	}
	return status
}

// plainProblem is the subset of huma.ErrorModel written outside huma.
type plainProblem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// writeProblem answers a request outside huma (routing misses, panics) with
// the same problem+json shape huma uses.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	body, err := json.Marshal(plainProblem{Title: http.StatusText(status), Status: status, Detail: detail})
	if err != nil {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// handleNotFound answers requests no route matched: 405 with an Allow header
// when the path exists for other methods, 404 otherwise.
func handleNotFound(mux *http.ServeMux) http.Handler {
	methods := []string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		for _, method := range methods {
			probe := r.Clone(r.Context())
			probe.Method = method
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allowed = append(allowed, method)
			}
		}
		if len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeProblem(w, http.StatusMethodNotAllowed, "Method "+r.Method+" is not allowed on "+r.URL.Path+".")
			return
		}
		writeProblem(w, http.StatusNotFound, "No route matches "+r.URL.Path+".")
	})
}
