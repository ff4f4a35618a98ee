package postgres

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"example.com/acme/internal/auth"
	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres/db"
)

// The purposes of account tokens.
const (
	purposePasswordReset     = "password_reset"
	purposeEmailVerification = "email_verification"
)

// errWrongPassword answers a password change whose current password is wrong.
var errWrongPassword = domain.Errorf(domain.EINVALID, "The current password is incorrect.")

// errNoReset is the one answer to a reset token that cannot be used,
// whatever the reason (unknown, expired, used, superseded).
var errNoReset = domain.Errorf(domain.ENOTFOUND, "This password reset link is invalid, has expired or was already used; ask for a new one.")

// errNoVerification is the one answer to a verification token that cannot
// be used, whatever the reason.
var errNoVerification = domain.Errorf(domain.ENOTFOUND, "This verification link is invalid, has expired or was already used; ask for a new one.")

// errUnverified answers a user whose address must be verified first.
var errUnverified = domain.Errorf(domain.EFORBIDDEN, "Verify your email address first: open the link mailed to you when you signed up, or ask for a new one.")

// link returns the front end's URL at path with token in the fragment,
// which browsers never send to a server, so it stays out of access logs.
func (id *Identity) link(path, token string) string {
	return id.opts.AppURL + path + "#token=" + token
}

// ChangePassword replaces the password of the user signed in with session
// after checking the current one (throttled like a sign-in: a wrong one
// counts as a failed sign-in). The user's other sessions end, the current
// one stays, and any password reset link stops working; the account's
// sign-in counts are cleared and its known clients forgotten, but for the
// caller's.
func (id *Identity) ChangePassword(ctx context.Context, userID, session, current, next, clientAddr string) error {
	err := domain.ValidatePassword(next)
	if err != nil {
		return err
	}
	user, err := id.queries.GetUser(ctx, pgUUID(userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return errBadToken // deleted while signed in
	}
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	attempt, err := id.throttle.startLogin(ctx, user.Email, clientAddr)
	if err != nil {
		return err
	}
	ok, _, err := id.hasher.Verify(ctx, current, user.PasswordHash)
	if err != nil {
		return fmt.Errorf("change password: verify the password of user %s: %w", userID, err)
	}
	if !ok {
		return errWrongPassword
	}
	err = attempt.takeBack(ctx)
	if err != nil {
		return err
	}
	hash, err := id.hasher.Hash(ctx, next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := id.inRevokingTx(ctx, func(tx pgx.Tx, q *db.Queries) (*AccessChange, error) {
		err := q.UpdatePasswordHash(ctx, db.UpdatePasswordHashParams{ID: user.ID, PasswordHash: hash})
		if err != nil {
			return nil, err
		}
		err = q.DeleteOtherSessions(ctx, db.DeleteOtherSessionsParams{UserID: user.ID, Keep: auth.HashToken(session)})
		if err != nil {
			return nil, err
		}
		err = q.DeleteAccountTokens(ctx, db.DeleteAccountTokensParams{UserID: user.ID, Purpose: purposePasswordReset})
		if err != nil {
			return nil, err
		}
		// The counts go with the password they were about; who changed it
		// stays a known client.
		err = forgetAccount(ctx, q, user.Email)
		if err != nil {
			return nil, err
		}
		err = attempt.known(ctx, q)
		if err != nil {
			return nil, err
		}
		// Neither password nor hash: only that it changed.
		err = RecordControl(ctx, tx, domain.Tenant{}, "user.password_change", "user:"+userID, nil, nil)
		if err != nil {
			return nil, err
		}
		return &AccessChange{User: userID}, nil
	}); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	return nil
}

// RequestPasswordReset mails a single-use link that sets a new password to
// the account of email, if there is one; an older link stops working.
// Whether or not there is, the answer is the same nil, so the request does
// not tell who has an account; for the same reason a link that could not
// be queued is logged, not returned. Requests are throttled per address and
// per client address like sign-ups, for unknown addresses too.
func (id *Identity) RequestPasswordReset(ctx context.Context, email, clientAddr string) error {
	email, err := domain.NormalizeEmail(email)
	if err != nil {
		return err
	}
	err = id.throttle.check(ctx, "password-reset", email, clientAddr)
	if err != nil {
		return err
	}
	user, err := id.queries.GetUserByEmail(ctx, email)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("password reset: %w", err)
	}
	token := auth.NewToken(auth.PasswordResetPrefix)
	hash := auth.HashToken(token)
	expires := time.Now().Add(id.opts.PasswordResetTTL).UTC().Truncate(time.Second)
	userID := user.ID.String()
	by := domain.WithPrincipal(ctx, domain.Principal{UserID: userID, Superuser: user.Superuser})
	if err := id.inAuditedTx(by, func(tx pgx.Tx, q *db.Queries) error {
		err := q.DeleteAccountTokens(ctx, db.DeleteAccountTokensParams{UserID: user.ID, Purpose: purposePasswordReset})
		if err != nil {
			return err
		}
		err = q.InsertAccountToken(ctx, db.InsertAccountTokenParams{
			TokenHash: hash, UserID: user.ID, Purpose: purposePasswordReset,
			ExpiresAt: pgtype.Timestamptz{Time: expires, Valid: true},
		})
		if err != nil {
			return err
		}
		err = RecordControl(by, tx, domain.Tenant{}, "user.password_reset_request", "user:"+userID, nil, sessionState{ExpiresAt: expires})
		if err != nil {
			return err
		}
		// The key names the token by (part of) its hash, never the token.
		err = id.mail.QueueMail(ctx, tx, domain.Tenant{}, "password-reset:"+hex.EncodeToString(hash[:16]), domain.Email{
			To:      user.Email,
			Subject: "Reset your password",
			Text: fmt.Sprintf("Someone, maybe you, asked to reset the password of your account.\n\n"+
				"To choose a new password, open this link:\n\n    %s\n\n"+
				"The link works once and expires on %s. If you did not ask, ignore this message: "+
				"your password is unchanged.\n",
				id.link("/password-reset", token), expires.Format(time.RFC1123)),
		})
		if err != nil {
			return domain.Wrap(err, domain.EUNAVAILABLE, "The password reset email could not be queued; try again later.")
		}
		return nil
	}); err != nil {
		// Logged, not returned: an unknown address could not fail here,
		// so a failure would tell that this one has an account.
		id.logger.ErrorContext(ctx, "could not queue a password reset link", slog.Any("error", err))
	}
	return nil
}

// ResetPassword sets a new password with a reset token and uses the token
// up. Every session of the user ends, their account's sign-in counts are
// cleared and its known clients forgotten, so a reset unlocks an account
// locked by guessing from any client address; the address,
// which the link reached, is verified. A token that
// is unknown, expired or used gets the same ENOTFOUND.
func (id *Identity) ResetPassword(ctx context.Context, token, password string) error {
	err := domain.ValidatePassword(password)
	if err != nil {
		return err
	}
	// A token that cannot be used costs no hash: a stream of made-up
	// tokens is cheap to answer. A live one is claimed below, in the
	// transaction; one used up in between answers the same.
	live, err := id.queries.AccountTokenIsLive(ctx, db.AccountTokenIsLiveParams{TokenHash: auth.HashToken(token), Purpose: purposePasswordReset})
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if !live {
		return errNoReset
	}
	hash, err := id.hasher.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := id.inRevokingTx(ctx, func(tx pgx.Tx, q *db.Queries) (*AccessChange, error) {
		userID, err := q.ClaimAccountToken(ctx, db.ClaimAccountTokenParams{TokenHash: auth.HashToken(token), Purpose: purposePasswordReset})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errNoReset
		}
		if err != nil {
			return nil, err
		}
		user, err := q.GetUser(ctx, userID)
		if err != nil {
			return nil, err
		}
		err = q.UpdatePasswordHash(ctx, db.UpdatePasswordHashParams{ID: user.ID, PasswordHash: hash})
		if err != nil {
			return nil, err
		}
		// The link came to the address: that verifies it.
		err = q.MarkEmailVerified(ctx, user.ID)
		if err != nil {
			return nil, err
		}
		err = q.DeleteUserSessions(ctx, user.ID)
		if err != nil {
			return nil, err
		}
		err = q.DeleteAccountTokens(ctx, db.DeleteAccountTokensParams{UserID: user.ID, Purpose: purposePasswordReset})
		if err != nil {
			return nil, err
		}
		err = forgetAccount(ctx, q, user.Email)
		if err != nil {
			return nil, err
		}
		by := domain.WithPrincipal(ctx, domain.Principal{UserID: user.ID.String(), Superuser: user.Superuser})
		err = RecordControl(by, tx, domain.Tenant{}, "user.password_reset", "user:"+user.ID.String(), nil, nil)
		if err != nil {
			return nil, err
		}
		return &AccessChange{User: user.ID.String()}, nil
	}); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	return nil
}

// markVerified marks a new user's address verified (insertUser's then for
// users an operator creates).
func markVerified(ctx context.Context, _ pgx.Tx, q *db.Queries, u db.User) error {
	return q.MarkEmailVerified(ctx, u.ID)
}

// queueVerification replaces any verification link of user by a new one
// and queues the email carrying it, in tx.
func (id *Identity) queueVerification(ctx context.Context, tx pgx.Tx, q *db.Queries, user db.User) error {
	token := auth.NewToken(auth.VerificationPrefix)
	hash := auth.HashToken(token)
	expires := time.Now().Add(id.opts.VerificationTTL).UTC().Truncate(time.Second)
	err := q.DeleteAccountTokens(ctx, db.DeleteAccountTokensParams{UserID: user.ID, Purpose: purposeEmailVerification})
	if err != nil {
		return err
	}
	err = q.InsertAccountToken(ctx, db.InsertAccountTokenParams{
		TokenHash: hash, UserID: user.ID, Purpose: purposeEmailVerification,
		ExpiresAt: pgtype.Timestamptz{Time: expires, Valid: true},
	})
	if err != nil {
		return err
	}
	err = id.mail.QueueMail(ctx, tx, domain.Tenant{}, "verify-email:"+hex.EncodeToString(hash[:16]), domain.Email{
		To:      user.Email,
		Subject: "Verify your email address",
		Text: fmt.Sprintf("To confirm that this is your email address, open this link:\n\n    %s\n\n"+
			"The link works once and expires on %s. If you did not create an account, ignore this message.\n",
			id.link("/verify-email", token), expires.Format(time.RFC1123)),
	})
	if err != nil {
		return domain.Wrap(err, domain.EUNAVAILABLE, "The verification email could not be queued; try again later.")
	}
	return nil
}

// VerifyEmail marks the address of a verification token's user verified
// and uses the token up. A token that is unknown, expired or used gets the
// same ENOTFOUND.
func (id *Identity) VerifyEmail(ctx context.Context, token string) error {
	if err := id.inAuditedTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		userID, err := q.ClaimAccountToken(ctx, db.ClaimAccountTokenParams{TokenHash: auth.HashToken(token), Purpose: purposeEmailVerification})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoVerification
		}
		if err != nil {
			return err
		}
		err = q.MarkEmailVerified(ctx, userID)
		if err != nil {
			return err
		}
		by := domain.WithPrincipal(ctx, domain.Principal{UserID: userID.String()})
		return RecordControl(by, tx, domain.Tenant{}, "user.email_verify", "user:"+userID.String(), nil, nil)
	}); err != nil {
		return fmt.Errorf("verify email: %w", err)
	}
	return nil
}

// ResendVerification mails a new verification link to the account of
// email if it has one whose address is not verified yet; the older link
// stops working. The answer is the same nil whatever the case, and
// requests are throttled per address and client address like sign-ups.
func (id *Identity) ResendVerification(ctx context.Context, email, clientAddr string) error {
	email, err := domain.NormalizeEmail(email)
	if err != nil {
		return err
	}
	err = id.throttle.check(ctx, "verify", email, clientAddr)
	if err != nil {
		return err
	}
	user, err := id.queries.GetUserByEmail(ctx, email)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && user.EmailVerifiedAt.Valid) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resend verification: %w", err)
	}
	if err := pgx.BeginFunc(ctx, id.pool, func(tx pgx.Tx) error {
		return id.queueVerification(ctx, tx, db.New(tx), user)
	}); err != nil {
		// Logged, not returned, as in RequestPasswordReset.
		id.logger.ErrorContext(ctx, "could not queue a verification link", slog.Any("error", err))
	}
	return nil
}
