// Package domain holds the application's domain types and the error codes
// every layer speaks. Adapters (postgres, httpapi, ...) translate their own
// failures into these codes; the HTTP layer maps codes to statuses in one table.
package domain

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error independently of any transport.
type Code string

// Error codes. The HTTP layer maps each one to a status.
const (
	ECONFLICT     Code = "conflict"     // the action conflicts with the current state
	EFORBIDDEN    Code = "forbidden"    // the caller may not perform the action
	EINTERNAL     Code = "internal"     // a bug or an unexpected failure; details are logged, not shown
	EINVALID      Code = "invalid"      // the input is malformed or breaks a rule
	ENOTFOUND     Code = "not_found"    // the target does not exist (or is hidden from the caller)
	EUNAUTHORIZED Code = "unauthorized" // the caller is not authenticated
	EUNAVAILABLE  Code = "unavailable"  // a dependency is down; retrying later may succeed
	ETHROTTLED    Code = "throttled"    // too many attempts; RetryAfter says when to try again
)

// Error is an application error with a code and a message safe to show to
// the caller. Err, when set, is the underlying cause and is only logged.
type Error struct {
	Code    Code
	Message string
	Err     error
	// RetryAfter is how long an ETHROTTLED or EUNAVAILABLE caller should
	// wait; zero leaves an EUNAVAILABLE answer's wait to the HTTP layer.
	RetryAfter time.Duration
	// Type, when set, is the problem type the HTTP layer answers with (a
	// path such as /problems/seat-limit), telling this refusal apart from
	// others with the same code.
	Type string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message that keeps err as
// its cause.
func Wrap(err error, code Code, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// Throttled returns an ETHROTTLED *Error asking the caller to wait retryAfter.
func Throttled(retryAfter time.Duration, message string) *Error {
	return &Error{Code: ETHROTTLED, Message: message, RetryAfter: retryAfter}
}

// ErrorType returns the Type of the first *Error in err's chain.
func ErrorType(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Type
	}
	return ""
}

// ErrorRetryAfter returns the RetryAfter of the first *Error in err's chain.
func ErrorRetryAfter(err error) time.Duration {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.RetryAfter
	}
	return 0
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of the first *Error in err's
// chain, and a generic message for any other error, so internal details never
// leak to clients.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok && e.Code != EINTERNAL {
		return e.Message
	}
	return "An internal error occurred."
}
