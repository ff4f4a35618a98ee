package httpapi_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// openAPIDoc is what these tests read of the OpenAPI document.
type openAPIDoc struct {
	Servers []struct {
		URL string `json:"url"`
	} `json:"servers"`
	Tags []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"tags"`
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type openAPIParam struct {
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

type openAPIOperation struct {
	OperationID string                `json:"operationId"`
	Tags        []string              `json:"tags"`
	Security    []map[string][]string `json:"security"`
	Parameters  []openAPIParam        `json:"parameters"`
	RequestBody json.RawMessage       `json:"requestBody"`
	Responses   map[string]struct {
		Content map[string]struct {
			Schema struct {
				Ref string `json:"$ref"`
			} `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

// The document a client generator reads says everything a client must
// know: the X-Tenant header of every tenant-scoped operation whose path
// does not name the tenant, the
// problem+json body of every error status each operation can answer
// (400, 422 where there is input, 500, and its guard's), a server, every
// tag declared and described, and no schema nobody refers to.
func TestOpenAPIDocumentIsComplete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.do(t, http.MethodGet, "/openapi.json", nil)
	require.Equal(t, http.StatusOK, res.status)
	var doc openAPIDoc
	require.NoError(t, json.Unmarshal(res.body, &doc))

	require.Equal(t, "/", doc.Servers[0].URL)
	declared := map[string]bool{}
	for _, tag := range doc.Tags {
		require.NotEmpty(t, tag.Description, "tag %q", tag.Name)
		declared[tag.Name] = true
	}
	used := map[string]bool{}
	tenantScoped := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			name := strings.ToUpper(method) + " " + path
			require.NotEmpty(t, op.Tags, name)
			for _, tag := range op.Tags {
				require.True(t, declared[tag], "%s: tag %q is not declared", name, tag)
				used[tag] = true
			}
			for _, code := range []string{"400", "500"} {
				require.Contains(t, op.Responses, code, name)
			}
			if len(op.Parameters) > 0 && op.OperationID != "stripe-webhook" {
				require.Contains(t, op.Responses, "422", "%s validates its parameters", name)
			}
			for code, r := range op.Responses {
				if code[0] != '4' && code[0] != '5' {
					continue
				}
				require.Equal(t, "#/components/schemas/ErrorModel", r.Content["application/problem+json"].Schema.Ref,
					"%s answers %s with a problem+json body", name, code)
			}
			byKey := slices.ContainsFunc(op.Security, func(s map[string][]string) bool { _, ok := s["apiKey"]; return ok })
			header := slices.ContainsFunc(op.Parameters, func(p openAPIParam) bool {
				return p.In == "header" && p.Name == "X-Tenant" && !p.Required
			})
			inPath := slices.ContainsFunc(op.Parameters, func(p openAPIParam) bool { return p.In == "path" && p.Name == "slug" })
			require.Equal(t, byKey && !inPath, header,
				"%s: tenant-scoped operations (those API keys may call) declare an optional X-Tenant header, and only they, unless their path names the tenant", name)
			if header {
				tenantScoped++
			}
		}
	}
	require.Greater(t, tenantScoped, 10)
	for name := range declared {
		require.True(t, used[name], "tag %q is declared but unused", name)
	}

	// Every schema is referred to, from the paths or from a schema that is.
	refs := regexp.MustCompile(`"#/components/schemas/([^"]+)"`)
	reached := map[string]bool{}
	var reach func(text []byte)
	reach = func(text []byte) {
		for _, m := range refs.FindAllSubmatch(text, -1) {
			if name := string(m[1]); !reached[name] {
				reached[name] = true
				reach(doc.Components.Schemas[name])
			}
		}
	}
	paths, err := json.Marshal(doc.Paths)
	require.NoError(t, err)
	reach(paths)
	for name := range doc.Components.Schemas {
		require.True(t, reached[name], "schema %s is unused", name)
	}
}
