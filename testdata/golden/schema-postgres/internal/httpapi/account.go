package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"example.com/acme/internal/domain"
)

// Accounts is what the API needs to change and reset passwords and to
// verify email addresses; part of Identity.
type Accounts interface {
	// ChangePassword checks a signed-in user's current password and sets a
	// new one; their other sessions end, the one of session stays.
	ChangePassword(ctx context.Context, userID, session, current, next, clientAddr string) error
	// RequestPasswordReset mails a reset link to email's account, if any:
	// the answer does not tell.
	RequestPasswordReset(ctx context.Context, email, clientAddr string) error
	// ResetPassword sets a password with a mailed reset token, once.
	ResetPassword(ctx context.Context, token, password string) error
	// VerifyEmail verifies an address with a mailed verification token, once.
	VerifyEmail(ctx context.Context, token string) error
	// ResendVerification mails a new verification link to email's account
	// if its address is unverified: the answer does not tell.
	ResendVerification(ctx context.Context, email, clientAddr string) error
}

type changePasswordInput struct {
	Body struct {
		CurrentPassword string `json:"current_password" maxLength:"256"`
		NewPassword     string `json:"new_password" minLength:"8" maxLength:"256" doc:"At least 8 characters"`
	}
}

// handleChangePassword changes the signed-in user's password.
func handleChangePassword(accounts Accounts) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "change-password",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Change your password: your other sessions end",
		Tags:          []string{"Identity"},
		Responses:     throttledResponses(),
	}, func(ctx context.Context, in *changePasswordInput) (*struct{}, error) {
		p, err := principalFrom(ctx)
		if err != nil {
			return nil, err
		}
		token, ok := ctx.Value(tokenKey{}).(string)
		if !ok {
			return nil, domain.Errorf(domain.EINTERNAL, "change-password registered without authentication")
		}
		return nil, accounts.ChangePassword(ctx, p.UserID, token, in.Body.CurrentPassword, in.Body.NewPassword, clientAddr(ctx))
	})
}

// passwordResetInput is an email address asking for a link: a password
// reset or email verification one.
type passwordResetInput struct {
	Body struct {
		Email string `json:"email" maxLength:"254" example:"ada@example.com"`
	}
}

// handlePasswordReset mails a password reset link. The answer is the same
// whether or not the email has an account.
func handlePasswordReset(accounts Accounts) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "password-reset",
		DefaultStatus: http.StatusAccepted,
		Summary:       "Ask for a password reset link by email (the same answer whether or not the email has an account)",
		Tags:          []string{"Identity"},
		Responses:     throttledResponses(),
	}, func(ctx context.Context, in *passwordResetInput) (*struct{}, error) {
		return nil, accounts.RequestPasswordReset(ctx, in.Body.Email, clientAddr(ctx))
	})
}

type confirmPasswordResetInput struct {
	Body struct {
		Token    string `json:"token" maxLength:"100" doc:"The token of the reset link's fragment"`
		Password string `json:"password" minLength:"8" maxLength:"256" doc:"The new password, at least 8 characters"`
	}
}

// handleConfirmPasswordReset sets a new password with a reset token.
func handleConfirmPasswordReset(accounts Accounts) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "confirm-password-reset",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Set a new password with a reset link's token: every session ends",
		Tags:          []string{"Identity"},
	}, func(ctx context.Context, in *confirmPasswordResetInput) (*struct{}, error) {
		return nil, accounts.ResetPassword(ctx, in.Body.Token, in.Body.Password)
	})
}

type verifyEmailInput struct {
	Body struct {
		Token string `json:"token" maxLength:"100" doc:"The token of the verification link's fragment"`
	}
}

// handleVerifyEmail verifies the address a verification link was sent to.
func handleVerifyEmail(accounts Accounts) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "verify-email",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Verify your email address with a verification link's token",
		Tags:          []string{"Identity"},
	}, func(ctx context.Context, in *verifyEmailInput) (*struct{}, error) {
		return nil, accounts.VerifyEmail(ctx, in.Body.Token)
	})
}

// handleResendVerification mails a new verification link. The answer is the
// same whether or not the email has an account, verified or not.
func handleResendVerification(accounts Accounts) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "resend-verification",
		DefaultStatus: http.StatusAccepted,
		Summary:       "Ask for a new email verification link (the same answer whether or not the email has an unverified account)",
		Tags:          []string{"Identity"},
		Responses:     throttledResponses(),
	}, func(ctx context.Context, in *passwordResetInput) (*struct{}, error) {
		return nil, accounts.ResendVerification(ctx, in.Body.Email, clientAddr(ctx))
	})
}
