package generator

import (
	"fmt"
	"strings"
	"text/template"
	"unicode"

	"github.com/Masterminds/sprig/v3"
)

// Data is the typed view-model every template sees. Templates branch on the
// derived booleans and on traits (Has) rather than comparing strings: a
// value's own files, which the blueprint selects, hold what is particular
// to it. The broker is not here at all: a template can only ask for the
// traits its value declares.
type Data struct {
	Name       string // app name: binary, compose project, README title
	Module     string // Go module path of the generated repository
	Tenancy    string // schema | row | database
	Billing    string // stripe | none
	Realtime   string // websocket | none
	KitVersion string

	// Resources are the record's resources, in order, for the shared
	// files that list them at their anchors (routes, permissions).
	Resources []ResourceData
	// Resource is the resource a resource template renders (see
	// Render); empty in shared templates.
	Resource ResourceData

	TenancySchema   bool
	TenancyRow      bool
	TenancyDatabase bool
	Stripe          bool
	WebSocket       bool

	traits map[string]bool   // the traits the chosen values bring
	known  map[string]string // every trait the blueprint declares
}

// NewData builds the view-model from validated answers.
func NewData(bp *Blueprint, a Answers, kitVersion string) Data {
	return Data{
		Name:       a["name"],
		Module:     a["module"],
		Tenancy:    a["tenancy"],
		Billing:    a["billing"],
		Realtime:   a["realtime"],
		KitVersion: kitVersion,

		TenancySchema:   a["tenancy"] == "schema",
		TenancyRow:      a["tenancy"] == "row",
		TenancyDatabase: a["tenancy"] == "database",
		Stripe:          a["billing"] == "stripe",
		WebSocket:       a["realtime"] == "websocket",

		traits: bp.TraitsOf(a),
		known:  bp.Traits,
	}
}

// Has reports whether a chosen value brings the trait, as in
// {{if .Has "outbox"}}. A trait the blueprint does not declare is an error,
// so a misspelt one fails the render instead of silently being false.
func (d Data) Has(trait string) (bool, error) {
	if _, ok := d.known[trait]; !ok {
		return false, fmt.Errorf("unknown trait %q (declare it under traits: in the blueprint)", trait)
	}
	return d.traits[trait], nil
}

// Uses reports whether a recorded resource has a field of kind (text,
// int, int64, bool, decimal, time, date, uuid, json), nullable if nullable.
func (d Data) Uses(kind string, nullable bool) bool { return Uses(d.Resources, kind, nullable) }

// UsesFilter reports whether a recorded resource's list filters on a
// field of kind.
func (d Data) UsesFilter(kind string) bool { return UsesFilter(d.Resources, kind) }

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
