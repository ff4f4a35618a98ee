// A typed client's view of a tenant-scoped call, checked by tsc --strict
// against the types openapi-typescript generates from the document
// (api.d.ts): the call names its tenant with the X-Tenant header, and an
// error answer is a problem+json body.
import type { paths } from "./api";

type ListAPIKeys = paths["/v1/api-keys"]["get"];

export const request: ListAPIKeys["parameters"] = {
  header: { "X-Tenant": "acme" },
};

type Problem = NonNullable<ListAPIKeys["responses"][403]["content"]>["application/problem+json"];

export const forbidden: Problem = {
  type: "about:blank",
  status: 403,
  title: "Forbidden",
  detail: "The caller's role does not hold api_keys:read",
};
