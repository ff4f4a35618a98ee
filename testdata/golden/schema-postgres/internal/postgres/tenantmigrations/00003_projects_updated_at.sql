-- Projects are rendered by the same templates as every resource `saaskit
-- add resource` writes, so they have the columns those have: updated_at,
-- set by every change.

-- +goose Up
ALTER TABLE projects ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

COMMENT ON TABLE projects IS 'The sample tenant-scoped resource, rendered by the resource templates: extend it, or add your own with saaskit add resource.';

-- +goose Down
ALTER TABLE projects DROP COLUMN updated_at;

COMMENT ON TABLE projects IS 'An example tenant-scoped resource: replace or extend it.';
