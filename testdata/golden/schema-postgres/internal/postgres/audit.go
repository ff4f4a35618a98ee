package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"example.com/acme/internal/domain"
)

// The audit log. Every change is recorded once, in its own transaction:
// a tenant's changes (Unit.Audit) in the tenant's storage, control-plane
// changes (tenants, users, memberships, roles, grants, invitations, API
// keys) in the control plane. Each is a hash chain per tenant: entry seq
// stores H(prev_hash || canonical entry) and prev_hash, the hash of entry
// seq-1, so editing, deleting, inserting or reordering entries breaks a
// link that Verify finds. Writers lock the chain's head row, so concurrent
// changes of one tenant make one chain. The head of each tenant's chain is
// also kept in the control plane (audit_heads), apart from the entries, so
// that cutting off the newest entries shows too.

// ErrEventGap says the events after an id cannot be replayed: the id is
// older than what is kept (retention pruned the entries after it), or it is
// not an id of the tenant's log. The client must resync.
var ErrEventGap = errors.New("events after this id are not kept: resync")

// Planes of an audit record: where it is stored.
const (
	PlaneTenant  = "tenant"  // the tenant's own storage (Unit.Audit)
	PlaneControl = "control" // the control plane
)

// noTenant is the tenant_id of control-plane entries that belong to no
// tenant (a user signing up, a password change).
const noTenant = "00000000-0000-0000-0000-000000000000"

// AuditRecord is an audit entry as stored: what Unit.Audit recorded, its
// place in its chain and its hash.
type AuditRecord struct {
	Plane      string          `json:"plane"`
	Seq        int64           `json:"seq"`
	At         time.Time       `json:"at"`
	TenantID   string          `json:"tenant_id,omitempty"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	UserID     string          `json:"user_id,omitempty"`
	APIKeyID   string          `json:"api_key_id,omitempty"`
	RequestID  string          `json:"request_id,omitempty"`
	IP         string          `json:"ip,omitempty"`
	UserAgent  string          `json:"user_agent,omitempty"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after,omitempty"`
	PrevHash   []byte          `json:"-"`
	Hash       []byte          `json:"hash"`
}

// chain is where one kind of hash chain is stored.
type chain struct {
	plane   string
	entries string // the entries' table
	head    string // the head's table
	// key is the column naming the tenant in both tables ("" when the
	// storage is the tenant's own or row-level security confines it) and
	// conflict the head table's key.
	key, conflict string
	// keepHead says an append also moves the control plane's copy of the
	// head (audit_heads), in the same statement: the tenant's transaction
	// is the control plane's too.
	keepHead bool
}

var (
	tenantChain  = chain{plane: PlaneTenant, entries: "audit_entries", head: "audit_chain", conflict: "one", keepHead: true}
	controlChain = chain{plane: PlaneControl, entries: "control_audit_entries", head: "control_audit_chain", key: "tenant_id", conflict: "tenant_id"}
)

// where returns the condition selecting tenantID's rows, as parameter n.
func (c chain) where(n int) string {
	return c.whereOn("", n)
}

// whereOn is where for the table named alias in the statement.
func (c chain) whereOn(alias string, n int) string {
	if c.key == "" {
		return "true"
	}
	if alias != "" {
		alias += "."
	}
	return alias + c.key + " = $" + strconv.Itoa(n) + "::uuid"
}

// genesis is the prev_hash of a chain's first entry.
var genesis = make([]byte, sha256.Size)

// entryColumns are the stored columns of an entry, in AuditRecord's order
// of scanning (see scanRecord).
const entryColumns = "seq, at, action, target_type, target_id, user_id, api_key_id, request_id, ip, user_agent, before, after, prev_hash, hash"

// appendEntry writes e as the next entry of tenantID's chain c, in tx, and
// sets e's ID, At and Hash, in one statement and round trip (see
// appendStatement).
func appendEntry(ctx context.Context, tx pgx.Tx, c chain, tenantID string, e *AuditEntry) error {
	stmt, args, at, err := appendStatement(c, tenantID, e)
	if err != nil {
		return err
	}
	var seq int64
	var hash []byte
	if err = tx.QueryRow(ctx, stmt, args...).Scan(&seq, &hash); err != nil {
		return fmt.Errorf("append to the audit log: %w", err)
	}
	e.ID, e.At, e.Hash = strconv.FormatInt(seq, 10), at, hash
	return nil
}

// genesisLiteral is genesis as a SQL literal.
var genesisLiteral = `'\x` + hex.EncodeToString(genesis) + `'::bytea`

// appendStatement is the one statement that appends e to tenantID's chain
// c, with its arguments and the time it records: it moves the head (one
// upsert: a chain's first entry makes it, at seq 1 after the genesis),
// writes the entry (its hash computed by Postgres from the previous one
// and the bytes hashTail gives) and, with c.keepHead, moves the control
// plane's copy, returning the entry's seq and hash. The head row stays
// locked until the transaction ends: the tenant's next writer waits for it
// and then moves the head from where this one left it.
//
// It is one statement, and the fewest table references that do this, on
// purpose: where row-level security confines a table, each reference
// checks the transaction's tenant seal once more (app_tenant()).
func appendStatement(c chain, tenantID string, e *AuditEntry) (string, []any, time.Time, error) {
	before, err := marshalState(e.Before)
	if err != nil {
		return "", nil, time.Time{}, err
	}
	after, err := marshalState(e.After)
	if err != nil {
		return "", nil, time.Time{}, err
	}
	r := AuditRecord{
		At: time.Now().UTC().Truncate(time.Microsecond), TenantID: tenantID,
		Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID,
		UserID: e.UserID, APIKeyID: e.APIKeyID, RequestID: e.RequestID, IP: e.IP, UserAgent: e.UserAgent,
		Before: before, After: after,
	}
	args := []any{r.At, r.Action, r.TargetType, r.TargetID, r.UserID, r.APIKeyID, r.RequestID, r.IP, r.UserAgent,
		nullJSON(r.Before), nullJSON(r.After), r.hashTail()}
	keyCol, keyVal := "", ""
	if c.key != "" || c.keepHead {
		args = append(args, tenantID)
	}
	if c.key != "" {
		keyCol, keyVal = c.key+", ", "$13::uuid, "
	}
	keptHead := ""
	if c.keepHead {
		// A head is never moved back: see audit_heads.
		keptHead = `,
		kept AS (
			INSERT INTO public.audit_heads (tenant_id, seq, hash) SELECT $13::uuid, seq, hash FROM moved
			ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, updated_at = now()
			WHERE audit_heads.seq < excluded.seq)`
	}
	// The hash is hash's: SHA-256 over the previous hash, the sequence
	// number (int8send: 8 bytes, big-endian) and the tail. The SET list
	// reads the head as it was, so prev_hash is the hash it moves from.
	stmt := `WITH moved AS (
			INSERT INTO ` + c.head + ` AS h (` + keyCol + `seq, hash, prev_hash, pruned_hash)
			VALUES (` + keyVal + `1, sha256(` + genesisLiteral + ` || int8send(1) || $12::bytea), ` + genesisLiteral + `, ` + genesisLiteral + `)
			ON CONFLICT (` + c.conflict + `) DO UPDATE
			SET seq = h.seq + 1, prev_hash = h.hash, hash = sha256(h.hash || int8send(h.seq + 1) || $12::bytea)
			RETURNING h.seq, h.hash, h.prev_hash),
		entry AS (
			INSERT INTO ` + c.entries + ` (` + keyCol + entryColumns + `)
			SELECT ` + keyVal + `seq, $1::timestamptz, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text,
			       $10::json, $11::json, prev_hash, hash FROM moved)` + keptHead + `
		SELECT seq, hash FROM moved`
	return stmt, args, r.At, nil
}

// marshalState encodes a before or after state; nil stays nil (NULL).
// Secrets never reach it: the states are the API's bodies, which carry
// none, and redact blanks fields that could.
func marshalState(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit state: %w", err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	return b, nil
}

// nullJSON is the parameter of a state: NULL for none.
func nullJSON(b json.RawMessage) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// hash is the entry's hash: SHA-256 over the previous entry's hash, the
// sequence number (8 bytes, big-endian) and hashTail. appendEntry has
// Postgres compute the same.
func (r *AuditRecord) hash() []byte {
	h := sha256.New()
	h.Write(r.PrevHash)
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(r.Seq))) //nolint:gosec // G115: the bits are what is hashed
	h.Write(r.hashTail())
	return h.Sum(nil)
}

// hashTail is what an entry's hash covers after the sequence number: its
// time and fields, each length-prefixed (a missing state differs from an
// empty one), so no two entries share an encoding.
func (r *AuditRecord) hashTail() []byte {
	var b []byte
	writeInt := func(v int64) {
		b = binary.BigEndian.AppendUint64(b, uint64(v)) //nolint:gosec // G115: the bits are what is hashed
	}
	writeBytes := func(s []byte, present bool) {
		if !present {
			writeInt(-1)
			return
		}
		writeInt(int64(len(s)))
		b = append(b, s...)
	}
	writeInt(r.At.UnixMicro())
	for _, s := range []string{r.TenantID, r.Action, r.TargetType, r.TargetID, r.UserID, r.APIKeyID, r.RequestID, r.IP, r.UserAgent} {
		writeBytes([]byte(s), true)
	}
	writeBytes(r.Before, r.Before != nil)
	writeBytes(r.After, r.After != nil)
	return b
}

// scanRecord reads the entryColumns of a row.
func scanRecord(row pgx.CollectableRow, plane, tenantID string) (AuditRecord, error) {
	r := AuditRecord{Plane: plane, TenantID: tenantID}
	var before, after []byte
	err := row.Scan(&r.Seq, &r.At, &r.Action, &r.TargetType, &r.TargetID, &r.UserID, &r.APIKeyID, &r.RequestID,
		&r.IP, &r.UserAgent, &before, &after, &r.PrevHash, &r.Hash)
	r.At = r.At.UTC()
	if before != nil {
		r.Before = before
	}
	if after != nil {
		r.After = after
	}
	return r, err
}

// AuditLog records, reads and verifies the audit logs of the tenants of a
// registry. It is the AuditRecorder of the tenants' units of work (see
// Seams) and the control plane's recorder (see RecordControl).
type AuditLog struct {
	ts *Tenants
}

// NewAuditLog returns the audit log of ts's tenants.
func NewAuditLog(ts *Tenants) *AuditLog {
	return &AuditLog{ts: ts}
}

// RecordAudit appends e to its tenant's log in the tenant's transaction tx,
// and moves the control plane's copy of the head (the same database's).
// The units of Tenants.InTenant do not call it: they queue their entries
// and send them with the COMMIT (see queueAudit).
func (l *AuditLog) RecordAudit(ctx context.Context, tx pgx.Tx, e *AuditEntry) error {
	return appendEntry(ctx, tx, tenantChain, e.Tenant.ID, e)
}

// queueAudit queues the appends of entries, in order, in b, one statement
// each (an append never writes nothing: the first makes the chain's head).
// Each sets its entry's ID, At and Hash once b's results are read.
func (l *AuditLog) queueAudit(b *pgx.Batch, entries []*AuditEntry) error {
	for _, e := range entries {
		stmt, args, at, err := appendStatement(tenantChain, e.Tenant.ID, e)
		if err != nil {
			return err
		}
		b.Queue(stmt, args...).QueryRow(func(row pgx.Row) error {
			var seq int64
			if err := row.Scan(&seq, &e.Hash); err != nil {
				return fmt.Errorf("append to the audit log: %w", err)
			}
			e.ID, e.At = strconv.FormatInt(seq, 10), at
			return nil
		})
	}
	return nil
}

// RecordControl records a control-plane change in the control-plane
// transaction tx that makes it: action on target ("type:id") by the
// principal of ctx, in tenant t (the zero Tenant for a change that belongs
// to none), with the state before and after (redact secrets first).
func RecordControl(ctx context.Context, tx pgx.Tx, t domain.Tenant, action, target string, before, after any) error {
	e := newAuditEntry(ctx, t, action, target, before, after)
	tenantID := t.ID
	if tenantID == "" {
		tenantID = noTenant
	}
	if err := appendEntry(ctx, tx, controlChain, tenantID, e); err != nil {
		return fmt.Errorf("audit %s %s: %w", action, target, err)
	}
	return nil
}

// newAuditEntry is the entry of a change made in ctx: its principal,
// request and client.
func newAuditEntry(ctx context.Context, t domain.Tenant, action, target string, before, after any) *AuditEntry {
	targetType, targetID, _ := strings.Cut(target, ":")
	c := domain.ClientFrom(ctx)
	e := &AuditEntry{
		Tenant: t, Action: action, TargetType: targetType, TargetID: targetID,
		Before: before, After: after, RequestID: domain.RequestIDFrom(ctx), IP: c.IP, UserAgent: c.UserAgent,
	}
	if p, ok := domain.PrincipalFrom(ctx); ok {
		e.UserID = p.UserID
		if p.APIKey != nil {
			e.APIKeyID = p.APIKey.ID
		}
	}
	return e
}

// EventsSince returns the events of tenant t's audit entries after the one
// with id afterID, in order, at most limit of them: what a client that saw
// afterID last has missed. It fails with ErrEventGap when afterID is not an
// id of t's log or the entries after it were pruned. afterID "0" is the
// start of a log nothing was pruned from.
func (l *AuditLog) EventsSince(ctx context.Context, t domain.Tenant, afterID string, limit int) ([]Event, error) {
	after, parseErr := strconv.ParseInt(afterID, 10, 64)
	if parseErr != nil || after < 0 {
		return nil, fmt.Errorf("event id %q: %w", afterID, ErrEventGap)
	}
	var events []Event
	err := l.ts.InTenantTx(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var pruned, head int64
		err := tx.QueryRow(ctx, `SELECT pruned_seq, seq FROM audit_chain`).Scan(&pruned, &head)
		if errors.Is(err, pgx.ErrNoRows) {
			pruned, head, err = 0, 0, nil
		}
		if err != nil {
			return fmt.Errorf("read the audit chain: %w", err)
		}
		if after < pruned || after > head {
			return fmt.Errorf("event id %d (kept: %d to %d): %w", after, pruned, head, ErrEventGap)
		}
		rows, err := tx.Query(ctx, `SELECT seq, at, action, target_type, target_id FROM audit_entries
			WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		events, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) {
			var seq int64
			ev := Event{Tenant: t}
			scanErr := row.Scan(&seq, &ev.At, &ev.Type, &ev.TargetType, &ev.TargetID)
			ev.ID, ev.At = strconv.FormatInt(seq, 10), ev.At.UTC()
			return ev, scanErr
		})
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		return nil
	})
	return events, err
}

// ChainReport is what Verify found in one chain.
type ChainReport struct {
	Plane    string // PlaneTenant or PlaneControl
	TenantID string // the chain's tenant; "" for control-plane changes of no tenant
	// Entries counts the entries checked; Head is the last one's seq.
	Entries, Head int64
	// BrokenAt is the seq of the first broken link (0 when intact) and
	// Problem says what is wrong there.
	BrokenAt int64
	Problem  string
}

// OK reports whether the chain is intact.
func (r ChainReport) OK() bool { return r.Problem == "" }

// chainHead is a chain's head row: its last entry and its anchor.
type chainHead struct {
	seq, prunedSeq int64
	hash, prunedHs []byte
}

// verifyChain checks the entries of rows, in seq order, against the
// anchor and head of h, and the head against external (the control
// plane's copy; nil when there is none).
func verifyChain(rows pgx.Rows, plane, tenantID string, h chainHead, external *chainHead) (ChainReport, error) {
	defer rows.Close()
	rep := ChainReport{Plane: plane, TenantID: tenantID}
	if tenantID == noTenant {
		rep.TenantID = ""
	}
	want, prev := h.prunedSeq+1, h.prunedHs
	for rows.Next() {
		r, err := scanRecord(rows, plane, tenantID)
		if err != nil {
			return rep, fmt.Errorf("read the audit log: %w", err)
		}
		switch {
		case r.Seq > want:
			rep.BrokenAt, rep.Problem = want, fmt.Sprintf("entry %d is missing (the next is %d)", want, r.Seq)
		case r.Seq < want:
			rep.BrokenAt, rep.Problem = r.Seq, fmt.Sprintf("entry %d is out of order", r.Seq)
		case !bytes.Equal(r.PrevHash, prev):
			rep.BrokenAt, rep.Problem = r.Seq, fmt.Sprintf("entry %d does not follow entry %d: an entry was inserted, removed or reordered", r.Seq, r.Seq-1)
		case !bytes.Equal(r.hash(), r.Hash):
			rep.BrokenAt, rep.Problem = r.Seq, fmt.Sprintf("entry %d was altered: its hash does not match its content", r.Seq)
		}
		if rep.Problem != "" {
			return rep, nil
		}
		rep.Entries++
		rep.Head, prev, want = r.Seq, r.Hash, want+1
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("read the audit log: %w", err)
	}
	if rep.Entries == 0 {
		rep.Head = h.prunedSeq
	}
	if h.seq != rep.Head || !bytes.Equal(h.hash, prev) {
		rep.BrokenAt, rep.Problem = rep.Head+1, fmt.Sprintf("the chain's head is entry %d but the log ends at entry %d", h.seq, rep.Head)
		return rep, nil
	}
	if external != nil && (external.seq > rep.Head || external.seq == rep.Head && !bytes.Equal(external.hash, prev)) {
		rep.BrokenAt, rep.Problem = rep.Head+1, fmt.Sprintf("the newest entries were removed: the control plane recorded entry %d as the head, the log ends at entry %d", external.seq, rep.Head)
	}
	return rep, nil
}

// Verify checks tenant t's two chains, its own log and its control-plane
// changes, from their anchors to their heads.
func (l *AuditLog) Verify(ctx context.Context, t domain.Tenant) ([]ChainReport, error) {
	var external *chainHead
	var ext chainHead
	headErr := l.ts.pool.QueryRow(ctx, `SELECT seq, hash FROM audit_heads WHERE tenant_id = $1`, t.ID).Scan(&ext.seq, &ext.hash)
	switch {
	case headErr == nil:
		external = &ext
	case !errors.Is(headErr, pgx.ErrNoRows):
		return nil, fmt.Errorf("read the audit chain's head: %w", headErr)
	}
	var own ChainReport
	err := l.ts.InTenantTx(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		h, err := readHead(ctx, tx, tenantChain, t.ID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM audit_entries ORDER BY seq`)
		if err != nil {
			return fmt.Errorf("read the audit log: %w", err)
		}
		own, err = verifyChain(rows, PlaneTenant, t.ID, h, external)
		return err
	})
	if err != nil {
		return nil, err
	}
	control, err := l.verifyControl(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	return []ChainReport{own, control}, nil
}

// VerifyUnattributed checks the control-plane chain of the changes that
// belong to no tenant.
func (l *AuditLog) VerifyUnattributed(ctx context.Context) (ChainReport, error) {
	return l.verifyControl(ctx, noTenant)
}

func (l *AuditLog) verifyControl(ctx context.Context, tenantID string) (ChainReport, error) {
	var rep ChainReport
	err := pgx.BeginFunc(ctx, l.ts.pool, func(tx pgx.Tx) error {
		h, err := readHead(ctx, tx, controlChain, tenantID)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM control_audit_entries WHERE tenant_id = $1 ORDER BY seq`, tenantID)
		if err != nil {
			return fmt.Errorf("read the audit log: %w", err)
		}
		rep, err = verifyChain(rows, PlaneControl, tenantID, h, nil)
		return err
	})
	return rep, err
}

// readHead reads the head row of tenantID's chain c; a chain never written
// has the genesis head.
func readHead(ctx context.Context, tx pgx.Tx, c chain, tenantID string) (chainHead, error) {
	h := chainHead{hash: genesis, prunedHs: genesis}
	var args []any
	if c.key != "" {
		args = append(args, tenantID)
	}
	err := tx.QueryRow(ctx, `SELECT seq, hash, pruned_seq, pruned_hash FROM `+c.head+` WHERE `+c.where(1), args...).
		Scan(&h.seq, &h.hash, &h.prunedSeq, &h.prunedHs)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("read the audit chain: %w", err)
	}
	return h, nil
}
