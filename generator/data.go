package generator

import (
	"strings"
	"text/template"
	"unicode"

	"github.com/Masterminds/sprig/v3"
)

// Data is the typed view-model every template sees. Templates branch on the
// derived booleans rather than comparing strings.
type Data struct {
	Name       string // app name: binary, compose project, README title
	Module     string // Go module path of the generated repository
	Tenancy    string // schema | row | database
	Broker     string // postgres | redis | nats
	Billing    string // stripe | none
	Realtime   string // websocket | none
	KitVersion string

	TenancySchema   bool
	TenancyRow      bool
	TenancyDatabase bool
	BrokerPostgres  bool
	BrokerRedis     bool
	BrokerNATS      bool
	Stripe          bool
	WebSocket       bool
}

// NewData builds the view-model from validated answers.
func NewData(a Answers, kitVersion string) Data {
	return Data{
		Name:       a["name"],
		Module:     a["module"],
		Tenancy:    a["tenancy"],
		Broker:     a["broker"],
		Billing:    a["billing"],
		Realtime:   a["realtime"],
		KitVersion: kitVersion,

		TenancySchema:   a["tenancy"] == "schema",
		TenancyRow:      a["tenancy"] == "row",
		TenancyDatabase: a["tenancy"] == "database",
		BrokerPostgres:  a["broker"] == "postgres",
		BrokerRedis:     a["broker"] == "redis",
		BrokerNATS:      a["broker"] == "nats",
		Stripe:          a["billing"] == "stripe",
		WebSocket:       a["realtime"] == "websocket",
	}
}

// funcMap is sprig's hermetic text functions (no clock, environment or
// randomness, so output is reproducible) plus saaskit's own.
func funcMap() template.FuncMap {
	fm := sprig.HermeticTxtFuncMap()
	fm["goident"] = GoIdent
	return fm
}

// GoIdent turns a name such as "my-app" into a Go identifier ("myapp").
func GoIdent(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	id := b.String()
	if id == "" || unicode.IsDigit(rune(id[0])) {
		id = "app" + id
	}
	return id
}
