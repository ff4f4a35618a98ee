-- Run by the postgres image once, when it initialises an empty data
-- directory (docker-compose.yml mounts this directory), as the superuser
-- acme, which owns the tables and runs the migrations
-- (MIGRATE_DATABASE_URL).
--
-- The app connects as acme_app (DATABASE_URL): a role that can log in
-- and nothing more. It owns no table, is not a superuser and has no
-- BYPASSRLS, so row-level security applies to every query it makes;
-- `acme migrate` grants it what it needs on the tables. Anywhere but a
-- development machine, create it the same way with a real password.
CREATE ROLE "acme_app" LOGIN PASSWORD 'acme_app'
    NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
