package generator

import (
	"errors"
	"fmt"
	"go/token"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jinzhu/inflection"
)

// FieldsHelp documents the field DSL of `saaskit add resource --fields`.
const FieldsHelp = `Fields are separated by spaces; each is NAME:TYPE followed by optional markers:

  NAME:TYPE[?][!unique][!index][=DEFAULT]

  string         text of at most 200 characters (non-empty unless nullable)
  text           text of any length
  int, int64     32- and 64-bit integers
  bool           true or false
  decimal        an exact decimal number, sent as a string ("12.50")
  time           an instant (RFC 3339)
  date           a calendar date (2006-01-02)
  uuid           a UUID
  json           any JSON value
  enum(a|b|c)    one of the listed lowercase words
  ref(resource)  a reference to a row of another resource of this repository
                 (column NAME_id; a row referenced elsewhere cannot be deleted)

  ?              nullable: the field may be absent or null
  !unique        unique within the tenant
  !index         indexed (and filterable in the list)
  =DEFAULT       the value when a create leaves the field out (string, text,
                 int, int64, bool, decimal and enum fields)

Names are lowercase snake_case; a resource's name is plural (invoices,
line_items). Enum, bool, ref, uuid, !unique and !index fields are filters
of the list (?status=paid).`

// FieldType is the type of a resource field in the DSL.
type FieldType string

// The field types of the DSL.
const (
	TypeString  FieldType = "string"
	TypeText    FieldType = "text"
	TypeInt     FieldType = "int"
	TypeInt64   FieldType = "int64"
	TypeBool    FieldType = "bool"
	TypeDecimal FieldType = "decimal"
	TypeTime    FieldType = "time"
	TypeDate    FieldType = "date"
	TypeUUID    FieldType = "uuid"
	TypeJSON    FieldType = "json"
	TypeEnum    FieldType = "enum"
	TypeRef     FieldType = "ref"
)

var fieldTypes = []FieldType{TypeString, TypeText, TypeInt, TypeInt64, TypeBool, TypeDecimal, TypeTime, TypeDate, TypeUUID, TypeJSON, "enum(a|b)", "ref(resource)"}

func typeList() string {
	s := make([]string, len(fieldTypes))
	for i, t := range fieldTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Field is one parsed field of a resource.
type Field struct {
	Name     string    // as written: due_at, customer
	Type     FieldType // string, ..., enum, ref
	Nullable bool
	Unique   bool
	Indexed  bool
	// Default is the DEFAULT literal as written; HasDefault says one was.
	Default    string
	HasDefault bool
	Values     []string // an enum's values
	Ref        string   // a ref's resource (plural name)
}

// Column is the field's column: the name, or NAME_id for a ref.
func (f Field) Column() string {
	if f.Type == TypeRef {
		return f.Name + "_id"
	}
	return f.Name
}

// GoName is the column as sqlc names it in Go (CustomerID, AmountCents).
func (f Field) GoName() string { return SQLCName(f.Column()) }

// Filterable reports whether the list takes the field as an equality
// filter (?status=paid): enums, bools, refs, uuids, and strings that are
// unique or indexed.
func (f Field) Filterable() bool {
	switch f.Type {
	case TypeEnum, TypeBool, TypeRef, TypeUUID:
		return true
	case TypeString:
		return f.Unique || f.Indexed
	}
	return false
}

// Kind groups the types by their Go representation: text (string, text,
// enum), int, int64, bool, decimal, time, date, uuid (uuid, ref), json.
func (f Field) Kind() string {
	switch f.Type {
	case TypeString, TypeText, TypeEnum:
		return "text"
	case TypeRef:
		return "uuid"
	}
	return string(f.Type)
}

// RefModel is the Go type of the resource a ref names (Customer).
func (f Field) RefModel() string { return SQLCName(inflection.Singular(f.Ref)) }

// Required reports whether a create must give the field.
func (f Field) Required() bool { return !f.Nullable && !f.HasDefault }

// SQLType is the Postgres type of the field's column.
func (f Field) SQLType() string {
	switch f.Type {
	case TypeString, TypeText, TypeEnum:
		return "text"
	case TypeInt:
		return "integer"
	case TypeInt64:
		return "bigint"
	case TypeBool:
		return "boolean"
	case TypeDecimal:
		return "numeric"
	case TypeTime:
		return "timestamptz"
	case TypeDate:
		return "date"
	case TypeUUID, TypeRef:
		return "uuid"
	case TypeJSON:
		return "jsonb"
	}
	return ""
}

// Param is the field's value as a query parameter: a nullable parameter
// cast to the column's type. JSON travels as text, so that it is sent as
// JSON whatever the connection's query mode (a []byte would go as bytea).
func (f Field) Param() string {
	if f.Type == TypeJSON {
		return "sqlc.narg('" + f.Column() + "')::text::jsonb"
	}
	return "sqlc.narg('" + f.Column() + "')::" + f.SQLType()
}

// SQLDefault is the DEFAULT clause's literal, or "".
func (f Field) SQLDefault() string {
	if !f.HasDefault {
		return ""
	}
	switch f.Type {
	case TypeString, TypeText, TypeEnum:
		return "'" + strings.ReplaceAll(f.Default, "'", "''") + "'"
	}
	return f.Default
}

// SQLCName is how sqlc names a column or parameter in Go: words split at
// underscores, each capitalised, "id" upper-cased.
func SQLCName(s string) string {
	var b strings.Builder
	for _, p := range strings.Split(s, "_") {
		if p == "id" {
			b.WriteString("ID")
			continue
		}
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	return b.String()
}

// lowerFirst returns s with its first letter lowercased, keeping a
// leading initialism lowercase as a whole (ID → id).
func lowerFirst(s string) string {
	if strings.HasPrefix(s, "ID") {
		return "id" + s[2:]
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// ResourceData is a resource as templates see it.
type ResourceData struct {
	Name     string // plural snake_case: invoices, line_items
	Singular string // invoice, line_item
	// Go names: Invoice (sqlc's model), Invoices, invoice (unexported).
	Model, Plural, Var, VarPlural string
	// Path is the API path segment (line-items); Label the words of the
	// singular (line item), for docs and errors.
	Path, Label, LabelPlural string
	// PathSingular names the operations (create-line-item).
	PathSingular string
	// Migration is the tenant migration's version, zero-padded.
	Migration string
	Fields    []Field
	// Refs are the resources this one references, for the tests.
	Refs []string
	// Sample is set on the app's sample resource (SampleResource).
	Sample bool
}

// Uses reports whether any of rs has a field of kind (see Field.Kind),
// nullable if nullable is set: shared code holds a conversion only when
// some resource needs it.
func Uses(rs []ResourceData, kind string, nullable bool) bool {
	for _, r := range rs {
		for _, f := range r.Fields {
			if f.Kind() == kind && (f.Nullable || !nullable) {
				return true
			}
		}
	}
	return false
}

// UsesFilter reports whether any of rs filters its list on a field of kind.
func UsesFilter(rs []ResourceData, kind string) bool {
	for _, r := range rs {
		for _, f := range r.Filters() {
			if f.Kind() == kind {
				return true
			}
		}
	}
	return false
}

// Filters are the fields the list filters on.
func (r ResourceData) Filters() []Field {
	var out []Field
	for _, f := range r.Fields {
		if f.Filterable() {
			out = append(out, f)
		}
	}
	return out
}

// ResourceMigrationBase is added to a resource's 1-based position in the
// record to make its tenant migration's version. Kit tenant migrations use
// small numbers; resources count from 10001, and the app's tenant migrator
// allows out-of-order versions, so a kit migration added by a later
// upgrade (00003, ...) applies after resource migrations already applied.
const ResourceMigrationBase = 10000

var (
	nameRE  = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	fieldRE = regexp.MustCompile(`^([^:]*):([a-z0-9]+)(\(([^)]*)\))?(\?)?((?:![a-z]+)*)(=(.*))?$`)
	wordRE  = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// BuiltinNames are the tables (those of the app's migrations and of its
// tests), routes and names the app already has or is planned to: no
// resource may take one.
var BuiltinNames = []string{
	"tenants", "users", "memberships", "members", "roles", "role_permissions", "grants", "object_grants",
	"api_keys", "invitations", "sessions", "projects", "jobs", "job_outbox", "job_unique", "job_processed",
	"tenant_migrations", "goose_db_version", "tenant_goose_db_version", "audit_log", "audit_events",
	"audit_entries", "events", "webhooks", "billing", "subscriptions", "stripe_events", "auth", "me",
	"healthz", "readyz", "metrics", "docs", "schemas", "openapi", "passwords", "password_resets",
	"verifications", "email_verifications", "tokens", "permissions", "river_job", "river_queue",
	"auth_throttle", "job_periodic_runs", "effects", "runs", "switches",
}

// reservedFields are columns every resource has.
var reservedFields = []string{"id", "tenant_id", "created_at", "updated_at"}

// ParseResource validates a resource named name with the fields DSL
// against the resources already recorded (existing; a ref may name one of
// them, and name must not be one), and returns it as templates see it.
// Every error names the bad token and what would be accepted.
func ParseResource(name, fields string, existing []Resource, position int) (ResourceData, error) {
	var errs []error
	if err := checkResourceName(name); err != nil {
		errs = append(errs, err)
	}
	for _, r := range existing {
		if r.Name == name {
			errs = append(errs, fmt.Errorf("resource %q already exists in %s; choose another name", name, RecordFile))
		}
	}
	known := map[string]bool{name: true, SampleResource.Name: true}
	for _, r := range existing {
		known[r.Name] = true
	}
	parsed, ferrs := ParseFields(fields, known)
	errs = append(errs, ferrs...)
	if err := errors.Join(errs...); err != nil {
		return ResourceData{}, err
	}
	return newResourceData(name, parsed, position), nil
}

func newResourceData(name string, fields []Field, position int) ResourceData {
	singular := inflection.Singular(name)
	model := SQLCName(singular)
	r := ResourceData{
		Name:         name,
		Singular:     singular,
		Model:        model,
		Plural:       SQLCName(name),
		Var:          lowerFirst(model),
		VarPlural:    lowerFirst(SQLCName(name)),
		Path:         strings.ReplaceAll(name, "_", "-"),
		Label:        strings.ReplaceAll(singular, "_", " "),
		PathSingular: strings.ReplaceAll(singular, "_", "-"),
		LabelPlural:  strings.ReplaceAll(name, "_", " "),
		Migration:    fmt.Sprintf("%05d", ResourceMigrationBase+position),
		Fields:       fields,
	}
	for _, f := range fields {
		if f.Type == TypeRef && !slices.Contains(r.Refs, f.Ref) {
			r.Refs = append(r.Refs, f.Ref)
		}
	}
	return r
}

// SampleResource is the app's sample resource. Every app has it, so it is
// not in the record; the resource templates render it like any recorded
// resource, except for its migration: its table is older than they are
// (tenant migrations 00001_projects and 00003_projects_updated_at).
var SampleResource = Resource{Name: "projects", Fields: "name:string"}

// ResourcesData is the sample resource, then every recorded resource in
// order.
func ResourcesData(rs []Resource) ([]ResourceData, error) {
	fields, errs := ParseFields(SampleResource.Fields, nil)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("the sample resource: %w", err)
	}
	sample := newResourceData(SampleResource.Name, fields, 0)
	sample.Sample = true
	out := []ResourceData{sample}
	for i, r := range rs {
		d, err := ParseResource(r.Name, r.Fields, rs[:i], i+1)
		if err != nil {
			return nil, fmt.Errorf("%s: resource %s: %w", RecordFile, r.Name, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// checkResourceName checks a resource's name: a plural snake_case word
// that is no keyword, reserved word or name the app already uses.
func checkResourceName(name string) error {
	const want = "a plural lowercase snake_case name such as invoices or line_items"
	if !nameRE.MatchString(name) {
		return fmt.Errorf("resource name %q: use letters a-z, digits and single underscores, starting with a letter (%s)", name, want)
	}
	if len(name) > 40 {
		return fmt.Errorf("resource name %q is longer than 40 characters (%s)", name, want)
	}
	singular := inflection.Singular(name)
	if singular == name || inflection.Plural(singular) != name {
		return fmt.Errorf("resource name %q is not a plural noun saaskit can singularise (%s; the singular names the Go type)", name, want)
	}
	if slices.Contains(BuiltinNames, name) {
		return fmt.Errorf("resource name %q is taken by the app itself (%s); choose another name", name, strings.Join(BuiltinNames, ", "))
	}
	for _, w := range []string{name, singular} {
		if err := checkWord("resource name", name, w); err != nil {
			return err
		}
	}
	return nil
}

// checkWord refuses a Go keyword or predeclared name and an SQL reserved
// word w, which comes from token in a message about what.
func checkWord(what, tok, w string) error {
	if token.IsKeyword(w) || slices.Contains(goPredeclared, w) {
		return fmt.Errorf("%s %q: %q is a Go keyword or predeclared name; choose another name", what, tok, w)
	}
	if slices.Contains(sqlReserved, w) {
		return fmt.Errorf("%s %q: %q is an SQL reserved word; choose another name", what, tok, w)
	}
	return nil
}

// ParseFields parses the fields DSL (see FieldsHelp); refs must name a
// resource in known.
func ParseFields(spec string, known map[string]bool) ([]Field, []error) {
	var (
		fields []Field
		errs   []error
	)
	tokens := strings.Fields(spec)
	if len(tokens) == 0 {
		return nil, []error{fmt.Errorf("no fields: give at least one, e.g. --fields \"title:string done:bool\"")}
	}
	seen := map[string]bool{}
	for _, tok := range tokens {
		f, err := parseField(tok, known)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[f.Column()] {
			errs = append(errs, fmt.Errorf("field %q: the column %s is given twice; every field needs its own name", tok, f.Column()))
			continue
		}
		seen[f.Column()] = true
		fields = append(fields, f)
	}
	return fields, errs
}

func parseField(tok string, known map[string]bool) (Field, error) {
	m := fieldRE.FindStringSubmatch(tok)
	if m == nil {
		return Field{}, fmt.Errorf("field %q: write NAME:TYPE[?][!unique][!index][=DEFAULT], e.g. amount_cents:int64 or status:enum(draft|paid)=draft", tok)
	}
	f := Field{Name: m[1], Type: FieldType(m[2]), Nullable: m[5] == "?"}
	if !nameRE.MatchString(f.Name) || len(f.Name) > 40 {
		return Field{}, fmt.Errorf("field %q: name %q must be lowercase snake_case, at most 40 characters (letters a-z, digits, single underscores)", tok, f.Name)
	}
	for _, w := range []string{f.Name, f.Column()} {
		if slices.Contains(reservedFields, w) {
			return Field{}, fmt.Errorf("field %q: %s is a column every resource already has (%s); choose another name", tok, w, strings.Join(reservedFields, ", "))
		}
		if err := checkWord("field", tok, w); err != nil {
			return Field{}, err
		}
	}
	if strings.HasPrefix(f.Name, "set_") || strings.HasPrefix(f.Name, "after_") || slices.Contains([]string{"max_items", "descending", "limit", "cursor", "sort"}, f.Name) {
		return Field{}, fmt.Errorf("field %q: names starting set_ or after_, and max_items, descending, limit, cursor and sort, are the queries' and the list's own parameters; choose another name", tok)
	}
	arg, hasArg := m[4], m[3] != ""
	switch f.Type {
	case TypeEnum:
		if !hasArg || arg == "" {
			return Field{}, fmt.Errorf("field %q: enum needs its values, as in enum(draft|open|paid)", tok)
		}
		for _, v := range strings.Split(arg, "|") {
			if !wordRE.MatchString(v) || len(v) > 40 {
				return Field{}, fmt.Errorf("field %q: enum value %q must be a lowercase word (a-z, digits, _), as in enum(draft|open|paid)", tok, v)
			}
			if slices.Contains(f.Values, v) {
				return Field{}, fmt.Errorf("field %q: enum value %q is listed twice", tok, v)
			}
			f.Values = append(f.Values, v)
		}
	case TypeRef:
		if !hasArg || arg == "" {
			return Field{}, fmt.Errorf("field %q: ref needs the resource it references, as in ref(customers)", tok)
		}
		if !known[arg] {
			var names []string
			for n := range known {
				names = append(names, n)
			}
			slices.Sort(names)
			return Field{}, fmt.Errorf("field %q: ref(%s) names no resource of this repository (resources: %s); add %s first", tok, arg, strings.Join(names, ", "), arg)
		}
		f.Ref = arg
	default:
		if !slices.Contains(fieldTypes, f.Type) {
			return Field{}, fmt.Errorf("field %q: unknown type %q (types: %s)", tok, m[2], typeList())
		}
		if hasArg {
			return Field{}, fmt.Errorf("field %q: type %s takes no (...) argument", tok, f.Type)
		}
	}
	for _, mk := range strings.Split(m[6], "!")[1:] {
		switch mk {
		case "unique":
			f.Unique = true
		case "index":
			f.Indexed = true
		default:
			return Field{}, fmt.Errorf("field %q: unknown marker !%s (markers: !unique, !index)", tok, mk)
		}
	}
	if f.Unique && (f.Type == TypeJSON || f.Type == TypeText) {
		return Field{}, fmt.Errorf("field %q: a %s field cannot be !unique (use string)", tok, f.Type)
	}
	if m[7] != "" {
		f.Default, f.HasDefault = m[8], true
		if err := checkDefault(f); err != nil {
			return Field{}, fmt.Errorf("field %q: %w", tok, err)
		}
	}
	return f, nil
}

// checkDefault checks a default against the field's type.
func checkDefault(f Field) error {
	d := f.Default
	switch f.Type {
	case TypeString, TypeText:
		if d == "" || strings.ContainsAny(d, `"\`+"`") || len(d) > 200 {
			return fmt.Errorf("default %q: a %s default is a non-empty word without quotes or backslashes", d, f.Type)
		}
	case TypeInt:
		if _, err := strconv.ParseInt(d, 10, 32); err != nil {
			return fmt.Errorf("default %q is not a 32-bit integer", d)
		}
	case TypeInt64:
		if _, err := strconv.ParseInt(d, 10, 64); err != nil {
			return fmt.Errorf("default %q is not a 64-bit integer", d)
		}
	case TypeBool:
		if d != "true" && d != "false" {
			return fmt.Errorf("default %q: a bool default is true or false", d)
		}
	case TypeDecimal:
		if !regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`).MatchString(d) {
			return fmt.Errorf("default %q is not a decimal number such as 0 or 12.50", d)
		}
	case TypeEnum:
		if !slices.Contains(f.Values, d) {
			return fmt.Errorf("default %q is not one of the enum's values (%s)", d, strings.Join(f.Values, ", "))
		}
	default:
		return fmt.Errorf("a %s field takes no default (defaults: string, text, int, int64, bool, decimal, enum)", f.Type)
	}
	return nil
}

// goPredeclared are Go's predeclared identifiers, which a generated name
// must not shadow.
var goPredeclared = []string{
	"any", "bool", "byte", "comparable", "complex64", "complex128", "error", "float32", "float64",
	"int", "int8", "int16", "int32", "int64", "rune", "string", "uint", "uint8", "uint16", "uint32",
	"uint64", "uintptr", "true", "false", "iota", "nil", "append", "cap", "clear", "close", "complex",
	"copy", "delete", "imag", "len", "make", "max", "min", "new", "panic", "print", "println", "real",
	"recover",
}

// sqlReserved are PostgreSQL's reserved key words (Appendix C, "reserved"
// and "reserved (can be function or type)").
var sqlReserved = []string{
	"all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization",
	"binary", "both", "case", "cast", "check", "collate", "collation", "column", "concurrently",
	"constraint", "create", "cross", "current_catalog", "current_date", "current_role",
	"current_schema", "current_time", "current_timestamp", "current_user", "default", "deferrable",
	"desc", "distinct", "do", "else", "end", "except", "false", "fetch", "for", "foreign", "freeze",
	"from", "full", "grant", "group", "having", "ilike", "in", "initially", "inner", "intersect",
	"into", "is", "isnull", "join", "lateral", "leading", "left", "like", "limit", "localtime",
	"localtimestamp", "natural", "not", "notnull", "null", "offset", "on", "only", "or", "order",
	"outer", "overlaps", "placing", "primary", "references", "returning", "right", "select",
	"session_user", "similar", "some", "symmetric", "system_user", "table", "tablesample", "then",
	"to", "trailing", "true", "union", "unique", "user", "using", "variadic", "verbose", "when",
	"where", "window", "with",
}
