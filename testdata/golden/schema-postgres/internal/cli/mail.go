package cli

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"example.com/acme/internal/config"
	"example.com/acme/internal/domain"
	"example.com/acme/internal/jobs"
	"example.com/acme/internal/mail"
)

// runMail is `mail test ADDRESS`: it enqueues a test email, so that a
// running worker proves SMTP_URL and MAIL_FROM end to end.
func runMail(ctx context.Context, e env, args []string) error {
	rest, err := parseFlags(e, "mail", args, 2)
	if err != nil {
		return err
	}
	if len(rest) != 2 || rest[0] != "test" {
		return &UsageError{msg: "mail: want test ADDRESS"}
	}
	msg := mail.Message{
		To:      rest[1],
		Subject: appName + " test email",
		Text:    "This is a test email from " + appName + ". If you can read it, outgoing mail works.\n",
	}
	if err := msg.Validate(); err != nil {
		return &UsageError{msg: domain.ErrorMessage(err)}
	}
	return withServices(ctx, e, func(cfg config.Config, s *services) error {
		sealer, err := mail.NewSealer(cfg.SecretKey)
		if err != nil {
			return err
		}
		var res jobs.Enqueued
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var enqueueErr error
			res, enqueueErr = mail.NewQueue(s.jobs, sealer).Enqueue(ctx, tx, domain.Tenant{}, "", msg)
			return enqueueErr
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "enqueued a test email to %s as job %s\n", msg.To, res.ID)
		return nil
	})
}
