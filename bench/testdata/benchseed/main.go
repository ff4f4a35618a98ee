// Command benchseed fills a generated app's database for bench/compare.sh,
// through the app's own code: Tenants.Create provisions each tenant (a schema,
// a database or nothing, by mode), InTenantTx writes its projects inside its
// scope, Identity.CreateUser and Identity.Login make each user and the session
// the load signs in with, and the app's InsertMembership query makes the
// memberships. compare.sh copies it into the app as cmd/benchseed (it lives
// under testdata so that the kit's own build ignores it).
//
// Usage:
//
//	DATABASE_URL=... benchseed TENANTS PROJECTS PAIRS_FILE < memberships.tsv
//
// memberships.tsv has lines "user<TAB>tenant<TAB>role" (user and tenant
// numbered from 1), the baselines' draw. PAIRS_FILE gets one line
// "token<TAB>tenant-<k>" per membership, the pairs the load sends.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/perfapp/internal/auth"
	"example.com/perfapp/internal/config"
	"example.com/perfapp/internal/postgres"
	"example.com/perfapp/internal/postgres/db"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchseed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) != 3 {
		return errors.New("usage: benchseed TENANTS PROJECTS PAIRS_FILE < memberships.tsv")
	}
	tenantCount, err1 := strconv.Atoi(args[0])
	projects, err2 := strconv.Atoi(args[1])
	if err := errors.Join(err1, err2); err != nil || tenantCount < 1 || projects < 1 {
		return fmt.Errorf("TENANTS and PROJECTS must be positive numbers: %q %q", args[0], args[1])
	}
	cfg, err := config.LoadDatabase(os.Getenv)
	if err != nil {
		return err
	}
	tenants, err := postgres.OpenTenants(ctx, cfg, postgres.TenantsOptions{AppName: "benchseed"})
	if err != nil {
		return err
	}
	defer tenants.Close()

	start := time.Now()
	ids, err := createTenants(ctx, tenants, tenantCount, projects)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchseed: %d tenants with %d projects each in %s\n", tenantCount, projects, time.Since(start).Round(time.Second))

	hasher, err := auth.NewHasher(auth.DefaultParams)
	if err != nil {
		return err
	}
	identity, err := postgres.NewIdentity(tenants, postgres.IdentityOptions{Hasher: hasher})
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, cfg.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	out, err := os.OpenFile(args[2], os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	n, err := addMembers(ctx, identity, db.New(pool), ids, os.Stdin, out)
	if closeErr := out.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchseed: %d memberships, pairs in %s; %s in all\n", n, args[2], time.Since(start).Round(time.Second))
	return nil
}

// createTenants creates tenant-1 … tenant-n, four at a time, each with
// projects projects, and returns their ids by number.
func createTenants(ctx context.Context, tenants *postgres.Tenants, n, projects int) ([]string, error) {
	ids := make([]string, n+1)
	errs := make([]error, n+1)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for k := range next {
				t, err := tenants.Create(ctx, "tenant-"+strconv.Itoa(k), "Tenant "+strconv.Itoa(k))
				if err == nil {
					err = tenants.InTenantTx(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
						_, err := tx.Exec(ctx, `INSERT INTO projects (name) SELECT 'project ' || g FROM generate_series(1, $1::int) AS g`, projects)
						return err
					})
				}
				ids[k], errs[k] = t.ID, err
			}
		})
	}
	for k := 1; k <= n; k++ {
		next <- k
	}
	close(next)
	wg.Wait()
	return ids, errors.Join(errs...)
}

// addMembers reads the membership draw, makes each user (with one session)
// the first time it is named and its memberships, and writes the pairs.
func addMembers(ctx context.Context, identity *postgres.Identity, q *db.Queries, tenantIDs []string, draw *os.File, pairs *os.File) (int, error) {
	tokens := map[string]string{} // user number → session token
	userIDs := map[string]pgtype.UUID{}
	count := 0
	sc := bufio.NewScanner(draw)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			return count, fmt.Errorf("memberships line %d: want user, tenant and role", count+1)
		}
		user, role := f[0], f[2]
		k, err := strconv.Atoi(f[1])
		if err != nil || k < 1 || k >= len(tenantIDs) {
			return count, fmt.Errorf("memberships line %d: no tenant %q", count+1, f[1])
		}
		if _, ok := tokens[user]; !ok {
			email := "user" + user + "@example.com"
			u, err := identity.CreateUser(ctx, email, "bench-password-123", "User "+user, false)
			if err != nil {
				return count, err
			}
			s, err := identity.Login(ctx, email, "bench-password-123", "127.0.0.1")
			if err != nil {
				return count, err
			}
			var id pgtype.UUID
			if err := id.Scan(u.ID); err != nil {
				return count, err
			}
			tokens[user], userIDs[user] = s.Token, id
		}
		var tenantID pgtype.UUID
		if err := tenantID.Scan(tenantIDs[k]); err != nil {
			return count, err
		}
		if _, err := q.InsertMembership(ctx, db.InsertMembershipParams{TenantID: tenantID, UserID: userIDs[user], Role: role}); err != nil {
			return count, fmt.Errorf("membership of user %s in tenant-%d: %w", user, k, err)
		}
		if _, err := fmt.Fprintf(pairs, "%s\ttenant-%d\n", tokens[user], k); err != nil {
			return count, err
		}
		count++
	}
	return count, sc.Err()
}
