package billing

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/acme/shop-api/internal/config"
)

// defaultPlans is the plans file built into the binary.
//
//go:embed plans.yaml
var defaultPlans []byte

// Plan is what a tenant's subscription entitles it to.
type Plan struct {
	// ID names the plan ("free", "pro").
	ID string `yaml:"id" json:"id"`
	// Name is the plan's display name.
	Name string `yaml:"name" json:"name"`
	// Prices are the Stripe price ids that buy the plan; the default plan
	// has none.
	Prices []string `yaml:"prices" json:"prices,omitempty"`
	// Features are the boolean entitlements routes ask for (entitled).
	Features []string `yaml:"features" json:"features"`
	// Seats is how many members the plan allows; 0 is no limit.
	Seats int64 `yaml:"seats" json:"seats"`
	// TrialDays is the free trial a tenant's first subscription to the
	// plan starts with; 0 is none. Stripe allows up to MaxTrialDays.
	TrialDays int64 `yaml:"trial_days" json:"trial_days,omitempty"`
	// Limits are numeric limits by name ("projects": 100); a limit the plan
	// does not name does not bound it.
	Limits map[string]int64 `yaml:"limits" json:"limits,omitempty"`
	// Metered names the usage the plan reports to Stripe.
	Metered []string `yaml:"metered" json:"metered,omitempty"`
	// RateLimit bounds the requests in a tenant on the plan, as
	// RATE_LIMIT_TENANT does ("200/s,400", or "off" for none); empty keeps
	// RATE_LIMIT_TENANT.
	RateLimit string `yaml:"rate_limit" json:"rate_limit,omitempty"`
}

// Rate returns the plan's tenant rate limit, and false when the plan keeps
// RATE_LIMIT_TENANT. The plans file was validated, so it parses.
func (p Plan) Rate() (config.Rate, bool) {
	if p.RateLimit == "" {
		return config.Rate{}, false
	}
	r, err := config.ParseRate(p.RateLimit)
	return r, err == nil
}

// Has reports whether the plan grants feature.
func (p Plan) Has(feature string) bool { return slices.Contains(p.Features, feature) }

// Plans is the validated plans file.
type Plans struct {
	// Default is the plan of a tenant without a subscription in force.
	Default Plan
	plans   []Plan
	byPrice map[string]Plan
}

// All returns every plan, in the file's order.
func (ps *Plans) All() []Plan { return slices.Clone(ps.plans) }

// ForPrice returns the plan price buys.
func (ps *Plans) ForPrice(price string) (Plan, bool) {
	p, ok := ps.byPrice[price]
	return p, ok
}

// Features lists every feature some plan grants.
func (ps *Plans) Features() []string {
	var all []string
	for i := range ps.plans {
		all = append(all, ps.plans[i].Features...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// LimitNames lists every numeric limit some plan sets.
func (ps *Plans) LimitNames() []string {
	var all []string
	for i := range ps.plans {
		for name := range ps.plans[i].Limits {
			all = append(all, name)
		}
	}
	slices.Sort(all)
	return slices.Compact(all)
}

// LoadPlans reads the plans file at path, or the built-in one when path is
// empty.
func LoadPlans(path string) (*Plans, error) {
	if path == "" {
		return ParsePlans("plans.yaml (built in)", defaultPlans)
	}
	data, err := os.ReadFile(path) //nolint:gosec // G304: the operator's BILLING_PLANS
	if err != nil {
		return nil, fmt.Errorf("billing plans: %w", err)
	}
	return ParsePlans(path, data)
}

// MaxTrialDays is the longest trial Stripe accepts.
const MaxTrialDays = 730

var planID = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)

// ParsePlans parses and validates a plans file; every error names the line
// at fault in name.
func ParsePlans(name string, data []byte) (*Plans, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var file struct {
		Default string      `yaml:"default"`
		Plans   []yaml.Node `yaml:"plans"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ps := &Plans{byPrice: map[string]Plan{}}
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...)))
	}
	ids := map[string]bool{}
	for i := range file.Plans {
		node := &file.Plans[i]
		var p Plan
		if err := node.Decode(&p); err != nil {
			fail(node.Line, "%v", err)
			continue
		}
		switch {
		case !planID.MatchString(p.ID):
			fail(node.Line, "plan id %q: 1 to 40 lowercase letters, digits, - and _", p.ID)
		case ids[p.ID]:
			fail(node.Line, "plan %q is defined twice", p.ID)
		}
		ids[p.ID] = true
		if p.Seats < 0 {
			fail(node.Line, "plan %q: seats cannot be negative", p.ID)
		}
		switch {
		case p.TrialDays < 0 || p.TrialDays > MaxTrialDays:
			fail(node.Line, "plan %q: trial_days %d: want 0 (no trial) to %d", p.ID, p.TrialDays, MaxTrialDays)
		case p.TrialDays > 0 && len(p.Prices) == 0:
			fail(node.Line, "plan %q: trial_days needs prices: a plan nobody buys has no trial", p.ID)
		}
		if p.RateLimit != "" {
			if _, err := config.ParseRate(p.RateLimit); err != nil {
				fail(node.Line, "plan %q: rate_limit %v", p.ID, err)
			}
		}
		for limit, n := range p.Limits {
			if n < 0 {
				fail(node.Line, "plan %q: limit %s cannot be negative", p.ID, limit)
			}
		}
		for _, price := range p.Prices {
			if other, dup := ps.byPrice[price]; dup {
				fail(node.Line, "price %q already buys plan %q", price, other.ID)
			}
			ps.byPrice[price] = p
		}
		ps.plans = append(ps.plans, p)
	}
	if len(ps.plans) == 0 {
		errs = append(errs, fmt.Errorf("%s: no plans", name))
	}
	i := slices.IndexFunc(ps.plans, func(p Plan) bool { return p.ID == file.Default })
	switch {
	case i < 0:
		errs = append(errs, fmt.Errorf("%s:%d: default plan %q is not among the plans", name, lineOf(&doc, "default"), file.Default))
	case len(ps.plans[i].Prices) > 0:
		errs = append(errs, fmt.Errorf("%s:%d: default plan %q must not be sold (it has prices)", name, lineOf(&doc, "default"), file.Default))
	default:
		ps.Default = ps.plans[i]
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ps, nil
}

// lineOf returns the line of the top-level key in doc, or 1.
func lineOf(doc *yaml.Node, key string) int {
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i].Line
			}
		}
	}
	return 1
}
