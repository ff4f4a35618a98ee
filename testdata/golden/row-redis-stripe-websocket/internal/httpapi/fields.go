package httpapi

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acme/shop-api/internal/domain"
)

// Conversions between the API's field types and the query code's, for the
// resources `saaskit add resource` writes. A nil pointer is SQL NULL: an
// absent filter, a field a PATCH leaves alone, or a nullable field's null.

// resourceKind is a resource as its errors name it: its table, and a
// label for one of its rows.
type resourceKind struct{ table, label string }

// error turns a database error of a query on the kind's table into the
// API's: no row is 404, a duplicate of a unique field or a reference to a
// missing row is 409, a value out of its range 422.
func (k resourceKind) error(err error, id string) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return domain.Errorf(domain.ENOTFOUND, "No %s %s.", k.label, id)
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return domain.Errorf(domain.ECONFLICT, "Another %s has this %s.", k.label, k.uniqueField(pgErr.ConstraintName))
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		return domain.Errorf(domain.ECONFLICT, "The %s refers to a row that does not exist, or is referred to by another (%s).", k.label, pgErr.ConstraintName)
	case errors.As(err, &pgErr) && pgErr.Code == "23514":
		return domain.Errorf(domain.EINVALID, "A value of the %s is out of range (%s).", k.label, pgErr.ConstraintName)
	}
	return err
}

// uniqueField is the column of the kind's table that Postgres' default
// name of a unique constraint (table_[tenant_id_]column_key) names.
func (k resourceKind) uniqueField(constraint string) string {
	field := strings.TrimSuffix(strings.TrimPrefix(constraint, k.table+"_"), "_key")
	return strings.TrimPrefix(field, "tenant_id_")
}

// pgText is s as a nullable text parameter.
func pgText(s *string) pgtype.Text {
	if s == nil {
		return pgtype.Text{}
	}
	return pgtype.Text{String: *s, Valid: true}
}

// textPtr is a nullable text column as the API shows it.
func textPtr(t pgtype.Text) *string {
	if !t.Valid {
		return nil
	}
	return &t.String
}

// queryString is a list filter's query value: "" is no filter.
func queryString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// pgInt4 is n as a nullable integer parameter.
func pgInt4(n *int32) pgtype.Int4 {
	if n == nil {
		return pgtype.Int4{}
	}
	return pgtype.Int4{Int32: *n, Valid: true}
}

// pgInt8 is n as a nullable bigint parameter.
func pgInt8(n *int64) pgtype.Int8 {
	if n == nil {
		return pgtype.Int8{}
	}
	return pgtype.Int8{Int64: *n, Valid: true}
}

// pgBool is b as a nullable boolean parameter.
func pgBool(b *bool) pgtype.Bool {
	if b == nil {
		return pgtype.Bool{}
	}
	return pgtype.Bool{Bool: *b, Valid: true}
}

// queryBool is a boolean list filter: "" is no filter.
func queryBool(s string) *bool {
	if s == "" {
		return nil
	}
	b := s == "true"
	return &b
}

// pgNumeric parses a decimal number given for field.
func pgNumeric(field string, s *string) (pgtype.Numeric, error) {
	var n pgtype.Numeric
	if s == nil {
		return n, nil
	}
	if err := n.Scan(*s); err != nil || n.NaN || n.InfinityModifier != pgtype.Finite {
		return pgtype.Numeric{}, domain.Errorf(domain.EINVALID, "%s is not a decimal number such as 12.50", field)
	}
	return n, nil
}

// numericString is a decimal column as the API shows it: its exact digits.
func numericString(n pgtype.Numeric) string {
	v, err := n.Value()
	s, ok := v.(string)
	if err != nil || !ok {
		return ""
	}
	return s
}

// numericPtr is a nullable decimal column as the API shows it.
func numericPtr(n pgtype.Numeric) *string {
	if !n.Valid {
		return nil
	}
	s := numericString(n)
	return &s
}

// pgTimestamptz is t as a nullable timestamptz parameter.
func pgTimestamptz(t *time.Time) pgtype.Timestamptz {
	if t == nil {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: *t, Valid: true}
}

// timePtr is a nullable timestamptz column as the API shows it.
func timePtr(t pgtype.Timestamptz) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}

// pgDate parses a calendar date (2006-01-02) given for field.
func pgDate(field string, s *string) (pgtype.Date, error) {
	if s == nil {
		return pgtype.Date{}, nil
	}
	t, err := time.Parse(time.DateOnly, *s)
	if err != nil {
		return pgtype.Date{}, domain.Errorf(domain.EINVALID, "%s is not a date such as 2006-01-02", field)
	}
	return pgtype.Date{Time: t, Valid: true}, nil
}

// dateString is a date column as the API shows it.
func dateString(d pgtype.Date) string {
	return d.Time.Format(time.DateOnly)
}

// datePtr is a nullable date column as the API shows it.
func datePtr(d pgtype.Date) *string {
	if !d.Valid {
		return nil
	}
	s := dateString(d)
	return &s
}

// pgUUID parses a UUID given for field.
func pgUUID(field string, s *string) (pgtype.UUID, error) {
	var id pgtype.UUID
	if s == nil {
		return id, nil
	}
	if !isUUID(*s) || id.Scan(*s) != nil {
		return pgtype.UUID{}, domain.Errorf(domain.EINVALID, "%s is not a UUID", field)
	}
	return id, nil
}

// uuidPtr is a nullable uuid column as the API shows it.
func uuidPtr(id pgtype.UUID) *string {
	if !id.Valid {
		return nil
	}
	s := id.String()
	return &s
}

// jsonParam is a JSON value as a nullable parameter, sent as text.
func jsonParam(raw json.RawMessage) pgtype.Text {
	if raw == nil {
		return pgtype.Text{}
	}
	return pgtype.Text{String: string(raw), Valid: true}
}
