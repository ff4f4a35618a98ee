package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/acme/shop-api/internal/auth"
	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/mail"
	"github.com/acme/shop-api/internal/postgres"
)

// openIdentity returns the identity store the server uses: argon2id at
// OWASP's parameters; invitations and notices queued as mail jobs; members
// capped by seats, when billing keeps them (nil otherwise).
func openIdentity(cfg config.Config, s *services, logger *slog.Logger, seats postgres.SeatKeeper) (*postgres.Identity, error) {
	hasher, err := auth.NewHasher(auth.DefaultParams)
	if err != nil {
		return nil, err
	}
	sealer, err := mail.NewSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	return postgres.NewIdentity(s.tenants, postgres.IdentityOptions{
		Hasher:                hasher,
		Mail:                  mail.NewQueue(s.jobs, sealer),
		Logger:                logger,
		SessionTTL:            cfg.SessionTTL,
		AppURL:                cfg.AppURL,
		PasswordResetTTL:      cfg.PasswordResetTTL,
		RequireVerifiedEmail:  cfg.RequireVerifiedEmail,
		Seats:                 seats,
		MaxPendingInvitations: cfg.MaxPendingInvitations,
		MaxInvitationsPerDay:  cfg.MaxInvitationsPerDay,
	})
}

func runUser(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "Usage: %s user create --email EMAIL --password-stdin [--name NAME] [--superuser]\n", appName)
		if len(args) == 0 {
			return &UsageError{msg: "user: no action given (want create)"}
		}
		return flag.ErrHelp
	}
	if args[0] != "create" {
		return &UsageError{msg: fmt.Sprintf("user: unknown action %q (want create)", args[0])}
	}
	return runUserCreate(ctx, e, args[1:])
}

// maxPasswordInput bounds what user create reads from standard input.
const maxPasswordInput = 4096

func runUserCreate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "user create")
	email := fs.String("email", "", "the user's `email` address (required)")
	name := fs.String("name", "", "the user's display `name` (default: the part of the email before the @)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (required: passwords never go on the command line)")
	superuser := fs.Bool("superuser", false, "make the user a superuser, who holds every permission in every tenant")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *email == "" || !*fromStdin {
		fs.Usage()
		return &UsageError{msg: "user create: --email and --password-stdin are required"}
	}
	password, err := readPassword(e.stdin)
	if err != nil {
		return err
	}
	if *name == "" {
		*name, _, _ = strings.Cut(*email, "@")
	}
	db, err := config.LoadDatabase(e.getenv)
	if err != nil {
		return err
	}
	hasher, err := auth.NewHasher(auth.DefaultParams)
	if err != nil {
		return err
	}
	return withControlPlane(ctx, e, db, func(tenants *postgres.Tenants) error {
		identity, err := postgres.NewIdentity(tenants, postgres.IdentityOptions{Hasher: hasher})
		if err != nil {
			return err
		}
		u, err := identity.CreateUser(ctx, *email, password, *name, *superuser)
		if err != nil {
			return cliError(err)
		}
		kind := "user"
		if u.Superuser {
			kind = "superuser"
		}
		fmt.Fprintf(e.stdout, "created %s %s (%s)\n", kind, u.Email, u.ID)
		return nil
	})
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("user create: no standard input to read the password from")
	}
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordInput)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("user create: read the password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("user create: standard input held no password")
	}
	return line, nil
}
