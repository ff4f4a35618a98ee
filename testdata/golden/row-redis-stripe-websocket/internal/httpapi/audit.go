package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres"
)

// AuditLog reads a tenant's audit log: *postgres.AuditLog.
type AuditLog interface {
	List(ctx context.Context, t domain.Tenant, f postgres.AuditFilter, limit int) ([]postgres.AuditRecord, error)
}

// auditEventBody is an audit entry as the API shows it.
type auditEventBody struct {
	ID         string    `json:"id" doc:"The entry's id: its plane and its place in the tenant's chain there"`
	Plane      string    `json:"plane" enum:"tenant,control" doc:"Where the change was made: the tenant's data or the control plane (members, roles, keys...)"`
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	Action     string    `json:"action" example:"project.create"`
	TargetType string    `json:"target_type" example:"project"`
	TargetID   string    `json:"target_id"`
	UserID     string    `json:"user_id,omitempty" doc:"The user who made the change (for an API key, the member who made the key)"`
	APIKeyID   string    `json:"api_key_id,omitempty" doc:"The API key the change was made with"`
	RequestID  string    `json:"request_id,omitempty"`
	IP         string    `json:"ip,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
	Before     any       `json:"before,omitempty" doc:"The state before the change (secrets never recorded)"`
	After      any       `json:"after,omitempty" doc:"The state after the change"`
	Digest     string    `json:"digest" doc:"The entry's SHA-256 link in its hash chain (hex)"`
}

func auditEventFrom(r *postgres.AuditRecord) auditEventBody {
	b := auditEventBody{
		ID: r.Plane + ":" + strconv.FormatInt(r.Seq, 10), Plane: r.Plane, Seq: r.Seq, At: r.At,
		Action: r.Action, TargetType: r.TargetType, TargetID: r.TargetID, UserID: r.UserID, APIKeyID: r.APIKeyID,
		RequestID: r.RequestID, IP: r.IP, UserAgent: r.UserAgent, Digest: hex.EncodeToString(r.Hash),
	}
	// Stored by the app as valid JSON; a state that does not decode is left out.
	_ = json.Unmarshal(r.Before, &b.Before)
	_ = json.Unmarshal(r.After, &b.After)
	return b
}

type listAuditEventsInput struct {
	Actor      string `query:"actor" maxLength:"100" doc:"A user id or API key id: the changes it made"`
	Action     string `query:"action" maxLength:"100" doc:"An action, as in project.create"`
	TargetType string `query:"target_type" maxLength:"100" doc:"The kind of object changed, as in project"`
	TargetID   string `query:"target_id" maxLength:"100" doc:"The id of the object changed"`
	Since      string `query:"since" format:"date-time" doc:"Entries at or after this time (RFC 3339)"`
	Until      string `query:"until" format:"date-time" doc:"Entries before this time (RFC 3339)"`
	Limit      int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor     string `query:"cursor" doc:"next_cursor of the previous page"`
}

type listAuditEventsOutput struct {
	Body struct {
		Items      []auditEventBody `json:"items"`
		NextCursor string           `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page"`
	}
}

// handleListAuditEvents pages through the tenant's audit log, newest first.
func handleListAuditEvents(audit AuditLog) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "list-audit-events",
		Summary:     "List the tenant's audit log, newest first",
		Tags:        []string{"Audit"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *listAuditEventsInput) (*listAuditEventsOutput, error) {
		f := postgres.AuditFilter{Actor: in.Actor, Action: in.Action, TargetType: in.TargetType, TargetID: in.TargetID}
		var err error
		if f.Since, err = parseTime("since", in.Since); err != nil {
			return nil, err
		}
		if f.Until, err = parseTime("until", in.Until); err != nil {
			return nil, err
		}
		if f.After, err = decodeAuditCursor(in.Cursor); err != nil {
			return nil, err
		}
		records, err := audit.List(ctx, a.Tenant, f, in.Limit+1)
		if err != nil {
			return nil, err
		}
		out := &listAuditEventsOutput{}
		if len(records) > in.Limit {
			records = records[:in.Limit]
			out.Body.NextCursor = encodeAuditCursor(records[in.Limit-1].Position())
		}
		out.Body.Items = make([]auditEventBody, len(records))
		for i := range records {
			out.Body.Items[i] = auditEventFrom(&records[i])
		}
		return out, nil
	}))
}

// parseTime reads an optional RFC 3339 time parameter.
func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, domain.Errorf(domain.EINVALID, "%s must be an RFC 3339 time, as in 2026-01-02T15:04:05Z", name)
	}
	return t, nil
}

// The audit log's cursor is the last entry's position: microseconds, plane
// and seq, made opaque.
func encodeAuditCursor(p postgres.AuditPosition) string {
	raw := strconv.FormatInt(p.At.UnixMicro(), 10) + "." + p.Plane + "." + strconv.FormatInt(p.Seq, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeAuditCursor(cursor string) (*postgres.AuditPosition, error) {
	if cursor == "" {
		return nil, nil //nolint:nilnil // no cursor: the first page
	}
	invalid := domain.Errorf(domain.EINVALID, "cursor is not one this API returned")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, invalid
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[1] != postgres.PlaneTenant && parts[1] != postgres.PlaneControl {
		return nil, invalid
	}
	micros, err1 := strconv.ParseInt(parts[0], 10, 64)
	seq, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, invalid
	}
	return &postgres.AuditPosition{At: time.UnixMicro(micros), Plane: parts[1], Seq: seq}, nil
}
