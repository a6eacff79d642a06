#!/bin/sh
# docker compose's PostgreSQL, at its first start (/docker-entrypoint-initdb.d): the same roles
# as the local cluster's (safeguard/infra/postgres.py, create_database). The image's superuser
# (postgres) only sets them up; the schema belongs to `safeguard`, which runs the migrations
# (`setup`), and the services connect as `safeguard_app`, which may only read and write rows.
# Passwords come from the Docker secrets, on standard input, never on a command line.
set -eu

owner_password=$(cat /run/secrets/postgres_owner_password)
app_password=$(cat /run/secrets/postgres_app_password)

psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres \
    -v owner_password="$owner_password" -v app_password="$app_password" <<'SQL'
CREATE ROLE safeguard WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    PASSWORD :'owner_password';
CREATE ROLE safeguard_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
    PASSWORD :'app_password';
CREATE DATABASE safeguard OWNER safeguard;
REVOKE ALL ON DATABASE safeguard FROM PUBLIC;
GRANT CONNECT ON DATABASE safeguard TO safeguard_app;
\connect safeguard
ALTER SCHEMA public OWNER TO safeguard;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO safeguard_app;
ALTER DEFAULT PRIVILEGES FOR ROLE safeguard IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO safeguard_app;
ALTER DEFAULT PRIVILEGES FOR ROLE safeguard IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO safeguard_app;
SQL
