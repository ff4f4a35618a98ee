package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/httpapi"
)

func TestObjectGrants(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.createTenant(t, "globex")
	x := b.createNamedProject(t, "acme", "x")
	y := b.createNamedProject(t, "acme", "y")
	elsewhere := b.createNamedProject(t, "globex", "elsewhere")
	res := b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "guest", "permissions": []string{}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	guest := b.join(t, b.token, "acme", "guest@example.com", "guest")
	guestID := b.members(t, b.token, "acme")["guest@example.com"].UserID
	stranger := b.join(t, b.token, "globex", "stranger@example.com", domain.RoleViewer)
	strangerID := b.members(t, b.token, "globex")["stranger@example.com"].UserID
	get := func(token, id string) response {
		return b.callAs(t, token, http.MethodGet, "/v1/projects/"+id, "", "acme", nil)
	}
	grant := func(token string, body map[string]string) response {
		return b.callAs(t, token, http.MethodPost, "/v1/grants", "", "acme", body)
	}

	requireProblem(t, get(guest, x.ID), http.StatusForbidden, "does not allow projects:read")
	res = grant(b.token, map[string]string{"permission": "projects:read", "object_id": x.ID, "user_id": guestID})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	g := decode[grantJSON](t, res)
	require.Equal(t, grantJSON{ID: g.ID, Permission: "projects:read", ObjectID: x.ID, UserID: guestID}, g)

	require.Equal(t, http.StatusOK, get(guest, x.ID).status, "the grant reads X")
	requireProblem(t, get(guest, y.ID), http.StatusForbidden, "does not allow projects:read")
	requireProblem(t, b.callAs(t, guest, http.MethodGet, "/v1/projects", "", "acme", nil), http.StatusForbidden, "projects:read")
	requireProblem(t, grant(b.token, map[string]string{"permission": "projects:read", "object_id": x.ID, "user_id": guestID}), http.StatusConflict, "exists")

	res = b.call(t, http.MethodGet, "/v1/grants?object_id="+x.ID, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, []grantJSON{g}, decode[pageJSON[grantJSON]](t, res).Items)
	res = b.call(t, http.MethodDelete, "/v1/grants/"+g.ID, "", "acme", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	requireProblem(t, get(guest, x.ID), http.StatusForbidden, "projects:read")
	requireProblem(t, b.call(t, http.MethodDelete, "/v1/grants/"+g.ID, "", "acme", nil), http.StatusNotFound, "No grant")

	// A grant to a role reaches everyone acting in it, API keys included.
	res = grant(b.token, map[string]string{"permission": "projects:read", "object_id": y.ID, "role": "guest"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	require.Equal(t, http.StatusOK, get(guest, y.ID).status)
	key := b.createAPIKey(t, b.token, "acme", "guest")
	require.Equal(t, http.StatusOK, get(key.Key, y.ID).status)
	requireProblem(t, get(key.Key, x.ID), http.StatusForbidden, "projects:read")

	// Refused: another tenant's user or object, an unknown role, a
	// permission no single-object operation declares, a permission the
	// granter lacks, a caller who may not grant.
	res = grant(b.token, map[string]string{"permission": "projects:read", "object_id": x.ID, "user_id": strangerID})
	requireProblem(t, res, http.StatusUnprocessableEntity, "is not a member of acme")
	res = grant(b.token, map[string]string{"permission": "projects:read", "object_id": elsewhere.ID, "user_id": guestID})
	requireProblem(t, res, http.StatusUnprocessableEntity, "names no projects object of this tenant")
	res = grant(b.token, map[string]string{"permission": "projects:read", "object_id": x.ID, "role": "nobody"})
	requireProblem(t, res, http.StatusUnprocessableEntity, `no role "nobody"`)
	res = grant(b.token, map[string]string{"permission": "members:write", "object_id": x.ID, "user_id": guestID})
	requireProblem(t, res, http.StatusUnprocessableEntity, "cannot be granted on single objects")
	res = grant(b.token, map[string]string{"permission": "projects:read", "object_id": x.ID, "user_id": guestID, "role": "guest"})
	requireProblem(t, res, http.StatusUnprocessableEntity, "exactly one grantee")
	res = grant(guest, map[string]string{"permission": "projects:read", "object_id": x.ID, "user_id": guestID})
	requireProblem(t, res, http.StatusForbidden, "does not allow grants:write")
	res = b.callAs(t, stranger, http.MethodPost, "/v1/grants", "", "globex", map[string]string{"permission": "projects:read", "object_id": elsewhere.ID, "user_id": strangerID})
	requireProblem(t, res, http.StatusForbidden, "grants:write")
	require.Equal(t, []string{"1"}, b.query(t, `SELECT count(*)::text FROM object_grants`), "only the role grant remains")
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	acme := b.createTenant(t, "acme")
	b.createTenant(t, "globex")

	res := b.call(t, http.MethodPost, "/v1/api-keys", "", "acme", map[string]string{"name": "deploys", "role": domain.RoleMember})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	key := decode[apiKeyJSON](t, res)
	require.True(t, strings.HasPrefix(key.Key, "ak_"))
	require.True(t, strings.HasPrefix(key.Key, key.Prefix))
	require.Len(t, key.Prefix, len("ak_")+8)
	require.Equal(t, domain.RoleMember, key.Role)

	res = b.call(t, http.MethodGet, "/v1/api-keys", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.NotContains(t, string(res.body), key.Key, "the secret is shown once")
	require.NotContains(t, string(res.body), `"key"`)
	require.Equal(t, key.Prefix, decode[pageJSON[apiKeyJSON]](t, res).Items[0].Prefix)

	// Works in its tenant with its role, and nowhere else.
	require.Equal(t, http.StatusOK, b.callAs(t, key.Key, http.MethodGet, "/v1/projects", "", "acme", nil).status)
	require.Equal(t, http.StatusOK, b.callAs(t, key.Key, http.MethodGet, "/v1/projects", "acme."+baseDomain, "", nil).status)
	require.Equal(t, http.StatusCreated, b.callAs(t, key.Key, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": "by key"}).status)
	requireProblem(t, b.callAs(t, key.Key, http.MethodGet, "/v1/projects", "", "globex", nil), http.StatusNotFound, `no tenant "globex"`)
	requireProblem(t, b.callAs(t, key.Key, http.MethodGet, "/v1/projects", "globex."+baseDomain, "", nil), http.StatusNotFound, `no tenant "globex"`)
	// A key belongs to one tenant: it needs neither header nor subdomain.
	res = b.callAs(t, key.Key, http.MethodGet, "/v1/projects", "", "", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Len(t, decode[pageJSON[namedProjectJSON]](t, res).Items, 1, "acme's project, made by the key")
	require.Equal(t, http.StatusCreated, b.callAs(t, key.Key, http.MethodPost, "/v1/projects", "", "", map[string]string{"name": "unnamed tenant"}).status)
	res = b.call(t, http.MethodGet, "/v1/projects", "", "acme", nil)
	require.Len(t, decode[pageJSON[namedProjectJSON]](t, res).Items, 2, "both landed in acme")
	require.Equal(t, http.StatusOK, b.callAs(t, key.Key, http.MethodGet, "/v1/members", "", "acme", nil).status)
	requireProblem(t, b.callAs(t, key.Key, http.MethodPost, "/v1/api-keys", "", "acme", map[string]string{"name": "more", "role": domain.RoleAdmin}), http.StatusForbidden, "api-keys:write")
	requireProblem(t, b.callAs(t, key.Key, http.MethodGet, "/v1/me", "", "", nil), http.StatusUnauthorized, "tenant-scoped operations only")

	// Never in the query string, whatever the parameter is called.
	for _, query := range []string{"?api_key=" + key.Key, "?access_token=" + key.Key, "?token=x", "?limit=5&q=" + key.Key} {
		res = b.callAs(t, "", http.MethodGet, "/v1/projects"+query, "", "acme", nil)
		requireProblem(t, res, http.StatusBadRequest, "never accepted in the query string")
	}
	require.NotContains(t, b.logs.String(), key.Key, "and a key sent there is not logged")

	// Revoked: 401 from the next request on.
	res = b.call(t, http.MethodDelete, "/v1/api-keys/"+key.ID, "", "acme", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	requireProblem(t, b.callAs(t, key.Key, http.MethodGet, "/v1/projects", "", "acme", nil), http.StatusUnauthorized, "revoked")
	requireProblem(t, b.call(t, http.MethodDelete, "/v1/api-keys/"+key.ID, "", "acme", nil), http.StatusNotFound, "No API key")
	res = b.call(t, http.MethodGet, "/v1/api-keys", "", "acme", nil)
	require.Empty(t, decode[pageJSON[apiKeyJSON]](t, res).Items)

	// Never above its maker: not made above their role, and capped by the
	// role they hold now.
	admin := b.join(t, b.token, "acme", "admin@example.com", domain.RoleAdmin)
	requireProblem(t, b.callAs(t, admin, http.MethodPost, "/v1/api-keys", "", "acme", map[string]string{"name": "x", "role": domain.RoleOwner}),
		http.StatusForbidden, "does not hold")
	adminKey := b.createAPIKey(t, admin, "acme", domain.RoleAdmin)
	require.Equal(t, http.StatusCreated, b.callAs(t, adminKey.Key, http.MethodPost, "/v1/invitations", "", "acme",
		map[string]string{"email": "a@example.com", "role": domain.RoleViewer}).status)
	ms := b.members(t, b.token, "acme")
	require.Equal(t, http.StatusOK, b.call(t, http.MethodPatch, "/v1/members/"+ms["admin@example.com"].ID, "", "acme", map[string]string{"role": domain.RoleViewer}).status)
	requireProblem(t, b.callAs(t, adminKey.Key, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "b@example.com", "role": domain.RoleViewer}),
		http.StatusForbidden, "invitations:write")
	require.Equal(t, http.StatusOK, b.callAs(t, adminKey.Key, http.MethodGet, "/v1/projects", "", "acme", nil).status, "what both still hold works")
	require.Equal(t, acme.ID, b.query(t, `SELECT tenant_id::text FROM api_keys WHERE id = $1`, adminKey.ID)[0])
}

// A user who is admin in one tenant and viewer in another cannot do admin
// things in the second, whatever token they bring.
func TestAdminInOneTenantIsViewerInAnother(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "alpha")
	b.createTenant(t, "beta")
	user := b.join(t, b.token, "alpha", "dual@example.com", domain.RoleAdmin)
	b.invite(t, b.token, "beta", "dual@example.com", domain.RoleViewer)
	res := b.callAs(t, user, http.MethodPost, "/v1/invitations/accept", "", "", map[string]string{"token": b.mail.lastInvitation(t, "dual@example.com")})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	alphaKey := b.createAPIKey(t, user, "alpha", domain.RoleAdmin)
	betaMembers := b.members(t, b.token, "beta")

	adminThings := []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/v1/invitations", map[string]string{"email": "x@example.com", "role": domain.RoleViewer}},
		{http.MethodPatch, "/v1/members/" + betaMembers["owner@example.com"].ID, map[string]string{"role": domain.RoleViewer}},
		{http.MethodDelete, "/v1/members/" + betaMembers["owner@example.com"].ID, nil},
		{http.MethodPost, "/v1/api-keys", map[string]string{"name": "k", "role": domain.RoleViewer}},
		{http.MethodGet, "/v1/api-keys", nil},
		{http.MethodPost, "/v1/roles", map[string]any{"name": "sneaky", "permissions": []string{"projects:read"}}},
		{http.MethodGet, "/v1/grants", nil},
		{http.MethodPost, "/v1/projects", map[string]string{"name": "x"}},
	}
	for _, thing := range adminThings {
		// The user's session, by header and by subdomain: a viewer there.
		res := b.callAs(t, user, thing.method, thing.path, "", "beta", thing.body)
		require.Equal(t, http.StatusForbidden, res.status, "%s %s with the session: %s", thing.method, thing.path, res.body)
		res = b.callAs(t, user, thing.method, thing.path, "beta."+baseDomain, "", thing.body)
		require.Equal(t, http.StatusForbidden, res.status, "%s %s by subdomain: %s", thing.method, thing.path, res.body)
		// Alpha's admin key: not a key of beta at all.
		res = b.callAs(t, alphaKey.Key, thing.method, thing.path, "", "beta", thing.body)
		require.Equal(t, http.StatusNotFound, res.status, "%s %s with alpha's key: %s", thing.method, thing.path, res.body)
		// Pointing at alpha by subdomain and at beta by header is refused.
		res = b.callAs(t, user, thing.method, thing.path, "alpha."+baseDomain, "beta", thing.body)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s %s with disagreeing host and header: %s", thing.method, thing.path, res.body)
	}
	require.Len(t, b.members(t, b.token, "beta"), 2, "nothing changed in beta")
	require.Equal(t, http.StatusOK, b.callAs(t, user, http.MethodGet, "/v1/projects", "", "beta", nil).status, "a viewer still reads")
	require.Equal(t, http.StatusCreated, b.callAs(t, user, http.MethodPost, "/v1/projects", "", "alpha", map[string]string{"name": "y"}).status, "an admin in alpha")
}

func TestBodiesAreBoundedAndCannotSetWhatTheyShouldNot(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")

	huge := strings.Repeat("x", 70<<10)
	res := b.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]string{"email": "big@example.com", "password": password, "name": huge})
	require.Equal(t, http.StatusRequestEntityTooLarge, res.status, string(res.body))
	res = b.call(t, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": huge})
	require.Equal(t, http.StatusRequestEntityTooLarge, res.status)

	for field, value := range map[string]any{"superuser": true, "is_superuser": true, "role": "owner", "password_hash": "$argon2id$x", //nolint:gosec // G101: a forged field, not a credential
		"id": "00000000-0000-0000-0000-000000000001", "tenant_id": "x"} {
		body := map[string]any{"email": "mass@example.com", "password": password, "name": "Mass", field: value}
		res = b.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", body)
		requireProblem(t, res, http.StatusBadRequest, "fields this operation does not accept")
		require.Contains(t, string(res.body), `"location":"body.`+field+`"`, "the problem names the field")
	}
	// A body that is also invalid otherwise stays a validation failure.
	res = b.callAs(t, "", http.MethodPost, "/v1/auth/signup", "", "", map[string]any{"email": "mass@example.com", "name": "Mass", "role": "owner"})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, string(res.body))
	require.Equal(t, []string{"0"}, b.query(t, `SELECT count(*)::text FROM users WHERE email = 'mass@example.com'`))

	viewer := b.join(t, b.token, "acme", "viewer@example.com", domain.RoleViewer)
	ms := b.members(t, b.token, "acme")
	res = b.call(t, http.MethodPatch, "/v1/members/"+ms["viewer@example.com"].ID, "", "acme", map[string]string{"role": "member", "user_id": ms["owner@example.com"].UserID})
	require.Equal(t, http.StatusBadRequest, res.status, string(res.body))
	res = b.call(t, http.MethodPost, "/v1/api-keys", "", "acme", map[string]string{"name": "k", "role": "viewer", "key": "ak_CHOSENBYTHECALLER234567AB"})
	require.Equal(t, http.StatusBadRequest, res.status, string(res.body))
	res = b.callAs(t, viewer, http.MethodPost, "/v1/invitations/accept", "", "", map[string]any{"token": "inv_x", "role": "owner"})
	require.Equal(t, http.StatusBadRequest, res.status, string(res.body))
	require.Equal(t, domain.RoleViewer, b.members(t, b.token, "acme")["viewer@example.com"].Role)
}

// showOnce are the secrets the API answers, each once, by operation: the
// response, media type and field path secretFields reports. Nothing else
// in any response schema may look like a secret.
var showOnce = map[string][]string{
	"login":          {"200 application/json token"},
	"create-api-key": {"201 application/json key"},
}

// secretName matches the names of fields that would hold a secret or what
// a secret can be recovered or forged from.
var secretName = regexp.MustCompile(`(?i)(password|passwd|hash|secret|token|credential|private|salt|^key$|_key$|apikey)`)

// secretFields returns the path of every field of schema whose name looks
// like a secret, however deep: through properties, array items, additional
// properties, allOf/oneOf/anyOf/not and $ref to the document's components
// (schemas), each component walked once per path.
func secretFields(schemas map[string]any, schema any) []string {
	var out []string
	var walk func(s any, path string, resolving map[string]bool)
	walk = func(s any, path string, resolving map[string]bool) {
		m, ok := s.(map[string]any)
		if !ok {
			return
		}
		if ref, ok := m["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/components/schemas/")
			if !resolving[name] {
				next := maps.Clone(resolving)
				next[name] = true
				walk(schemas[name], path, next)
			}
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for name, prop := range props {
				field := strings.TrimPrefix(path+"."+name, ".")
				if secretName.MatchString(name) {
					out = append(out, field)
				}
				walk(prop, field, resolving)
			}
		}
		for _, key := range []string{"items", "additionalProperties", "not"} {
			walk(m[key], path+map[string]string{"items": "[]", "additionalProperties": "{}", "not": ""}[key], resolving)
		}
		for _, key := range []string{"allOf", "oneOf", "anyOf", "prefixItems"} {
			if list, ok := m[key].([]any); ok {
				for _, sub := range list {
					walk(sub, path, resolving)
				}
			}
		}
	}
	walk(schema, "", map[string]bool{})
	return out
}

// The walker finds a secret however it is nested, and only secrets.
func TestSecretFieldsFindsNestedSecrets(t *testing.T) {
	t.Parallel()
	var schemas map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{
		"Page": {"type": "object", "properties": {
			"items": {"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
			"next_cursor": {"type": "string"}}},
		"Member": {"allOf": [
			{"$ref": "#/components/schemas/User"},
			{"type": "object", "properties": {"role": {"type": "string"}}}]},
		"User": {"type": "object", "properties": {
			"email": {"type": "string"},
			"login": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {"password_hash": {"type": "string"}}}]},
			"keys": {"type": "object", "additionalProperties": {"type": "object", "properties": {"key_hash": {"type": "string"}}}},
			"manager": {"$ref": "#/components/schemas/User"}}},
		"Clean": {"type": "object", "properties": {"id": {"type": "string"}, "prefix": {"type": "string"}, "keys": {"type": "array", "items": {"type": "string"}}}}
	}`), &schemas))

	page := map[string]any{"$ref": "#/components/schemas/Page"}
	// User refers to itself (manager): the cycle is walked once, and ends.
	require.ElementsMatch(t, []string{"items[].login.password_hash", "items[].keys{}.key_hash"}, secretFields(schemas, page))
	require.Empty(t, secretFields(schemas, map[string]any{"$ref": "#/components/schemas/Clean"}))
	require.Equal(t, []string{"token"}, secretFields(schemas, map[string]any{"type": "object", "properties": map[string]any{"token": map[string]any{}}}))
	for _, name := range []string{"password", "secret", "token_hash", "key_hash", "api_key", "client_secret", "key"} {
		require.Len(t, secretFields(schemas, map[string]any{"properties": map[string]any{name: map[string]any{}}}), 1, name)
	}
}

// The OpenAPI document describes every operation with its security and the
// permission it needs, and no response schema carries a secret but the ones
// shown once.
func TestOpenAPIDescribesSecurity(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	res := b.callAs(t, "", http.MethodGet, "/openapi.json", "", "", nil)
	require.Equal(t, http.StatusOK, res.status)
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type   string `json:"type"`
				Scheme string `json:"scheme"`
			} `json:"securitySchemes"`
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(res.body, &doc))
	require.Equal(t, "bearer", doc.Components.SecuritySchemes["session"].Scheme)
	require.Equal(t, "bearer", doc.Components.SecuritySchemes["apiKey"].Scheme)

	routes, err := httpapi.RegisteredRoutes(httpapi.Deps{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	session, apiKey := map[string][]string{"session": {}}, map[string][]string{"apiKey": {}}
	seen := map[string]bool{}
	operations := 0
	for path, item := range doc.Paths {
		for method, raw := range item {
			var op struct {
				OperationID string                 `json:"operationId"`
				Security    *[]map[string][]string `json:"security"`
				Permission  string                 `json:"x-permission"`
				Responses   map[string]struct {
					Content map[string]struct {
						Schema any `json:"schema"`
					} `json:"content"`
				} `json:"responses"`
			}
			require.NoError(t, json.Unmarshal(raw, &op))
			operations++
			i := slices.IndexFunc(routes, func(r httpapi.Route) bool { return r.OperationID == op.OperationID })
			require.GreaterOrEqual(t, i, 0, "%s %s is in the route registry", method, path)
			route := routes[i]
			require.NotNil(t, op.Security, "%s %s states its security", method, path)
			require.NotEmpty(t, op.Permission, "%s %s states what it requires", method, path)
			switch route.Auth {
			case "anyone":
				require.Empty(t, *op.Security)
			case "user":
				require.Equal(t, []map[string][]string{session}, *op.Security)
			case "tenant":
				want := []map[string][]string{session, apiKey}
				if route.KeysRefused {
					want = want[:1]
				}
				require.Equal(t, want, *op.Security, "%s %s", method, path)
				require.Contains(t, op.Permission, string(route.Permission))
				require.Contains(t, op.Responses, "403")
			}
			var found []string
			for code, response := range op.Responses {
				for mediaType, content := range response.Content {
					for _, field := range secretFields(doc.Components.Schemas, content.Schema) {
						found = append(found, code+" "+mediaType+" "+field)
					}
				}
			}
			require.ElementsMatch(t, showOnce[op.OperationID], found, "%s %s (%s) answers secret-like fields", method, path, op.OperationID)
			seen[op.OperationID] = true
		}
	}
	for id := range showOnce {
		require.True(t, seen[id], "the show-once list names %s, which is not an operation", id)
	}
	operationRoutes := slices.DeleteFunc(slices.Clone(routes), func(r httpapi.Route) bool { return r.Infrastructure })
	require.Len(t, operationRoutes, operations, "every registered operation is in the document")
}

// A superuser acts as an owner in every tenant, member or not, where a
// user who is not a member gets the answer for a tenant that does not
// exist. API keys are not superusers: a superuser makes them only where
// they are a member, up to their membership's role.
func TestSuperuserActsAsOwnerInEveryTenant(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.join(t, b.token, "acme", "viewer@example.com", domain.RoleViewer)
	root := b.createSuperuser(t, "root@example.com")
	normal := b.signUpAndLogin(t, "normal@example.com")
	viewerID := b.members(t, b.token, "acme")["viewer@example.com"].ID

	res := b.callAs(t, root, http.MethodGet, "/v1/me", "", "", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Empty(t, decode[meJSON](t, res).Memberships, "the superuser is a member of nothing")

	ownerThings := []struct {
		method, path string
		body         any
		status       int
	}{
		{http.MethodGet, "/v1/members", nil, http.StatusOK},
		{http.MethodPost, "/v1/projects", map[string]string{"name": "by root"}, http.StatusCreated},
		{http.MethodPatch, "/v1/members/" + viewerID, map[string]string{"role": domain.RoleOwner}, http.StatusOK}, // only owners make owners
		{http.MethodPost, "/v1/roles", map[string]any{"name": "auditor", "permissions": []string{"projects:read"}}, http.StatusCreated},
		{http.MethodPost, "/v1/invitations", map[string]string{"email": "new@example.com", "role": domain.RoleOwner}, http.StatusCreated},
		{http.MethodGet, "/v1/api-keys", nil, http.StatusOK},
		{http.MethodDelete, "/v1/members/" + viewerID, nil, http.StatusNoContent},
	}
	for _, thing := range ownerThings {
		res = b.callAs(t, normal, thing.method, thing.path, "", "acme", thing.body)
		requireProblem(t, res, http.StatusNotFound, `no tenant "acme"`)
		res = b.callAs(t, normal, thing.method, thing.path, "acme."+baseDomain, "", thing.body)
		requireProblem(t, res, http.StatusNotFound, `no tenant "acme"`)
		res = b.callAs(t, root, thing.method, thing.path, "", "acme", thing.body)
		require.Equal(t, thing.status, res.status, "%s %s as the superuser: %s", thing.method, thing.path, res.body)
	}
	res = b.call(t, http.MethodGet, "/v1/projects", "", "acme", nil)
	require.Equal(t, []string{"by root"}, projectNames(t, res), "only the superuser's writes happened")
	require.NotContains(t, b.members(t, b.token, "acme"), "viewer@example.com")
	require.NotContains(t, b.members(t, b.token, "acme"), "root@example.com", "acting in a tenant does not join it")

	// Someone a superuser invited joins with the role given.
	newcomer := b.signUpAndLogin(t, "new@example.com")
	res = b.callAs(t, newcomer, http.MethodPost, "/v1/invitations/accept", "", "", map[string]string{"token": b.mail.lastInvitation(t, "new@example.com")})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, domain.RoleOwner, b.members(t, b.token, "acme")["new@example.com"].Role)

	// No API key for a tenant the superuser is not a member of: it would
	// act for nobody.
	res = b.callAs(t, root, http.MethodPost, "/v1/api-keys", "", "acme", map[string]string{"name": "root key", "role": domain.RoleViewer})
	requireProblem(t, res, http.StatusForbidden, "not a member of acme")
	require.Equal(t, []string{"0"}, b.query(t, `SELECT count(*)::text FROM api_keys`))

	// A member, the superuser makes keys up to their membership's role, and
	// such a key authenticates, with that role only.
	b.invite(t, b.token, "acme", "root@example.com", domain.RoleViewer)
	res = b.callAs(t, root, http.MethodPost, "/v1/invitations/accept", "", "", map[string]string{"token": b.mail.lastInvitation(t, "root@example.com")})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	res = b.callAs(t, root, http.MethodPost, "/v1/api-keys", "", "acme", map[string]string{"name": "root key", "role": domain.RoleAdmin})
	requireProblem(t, res, http.StatusForbidden, `your role "viewer" does not hold`)
	key := b.createAPIKey(t, root, "acme", domain.RoleViewer)
	require.Equal(t, http.StatusOK, b.callAs(t, key.Key, http.MethodGet, "/v1/projects", "", "acme", nil).status)
	requireProblem(t, b.callAs(t, key.Key, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": "by key"}), http.StatusForbidden, "projects:write")
	// The superuser's own session still acts as an owner there.
	res = b.callAs(t, root, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": "by root again"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
}

// projectNames returns the names of a page of projects.
func projectNames(t *testing.T, res response) []string {
	t.Helper()
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	items := decode[pageJSON[namedProjectJSON]](t, res).Items
	names := make([]string, 0, len(items))
	for _, p := range items {
		names = append(names, p.Name)
	}
	return names
}
