#!/usr/bin/env bash
# PostgreSQL initialisation of the compose stack, run once by the postgres image when it
# creates the database (empty postgres-data volume), from /docker-entrypoint-initdb.d, as the
# superuser POSTGRES_USER.
#
# Creates the role Grafana's "thermogate records" data source logs in with: it may read every
# table of the records database, today's and those the records service creates later (default
# privileges of POSTGRES_USER, who owns them), and nothing else: its sessions are read-only
# and every statement it runs is written to PostgreSQL's log, because Grafana reads health
# data past the records service's own audit log.
#
# Environment: POSTGRES_USER, POSTGRES_DB (set by the image), GRAFANA_POSTGRES_PASSWORD
# (required), GRAFANA_POSTGRES_USER (default "grafana"). psql's connection defaults
# (PGHOST, PGPORT) apply, so the script runs the same against any server.
set -euo pipefail

: "${POSTGRES_USER:?}"
: "${POSTGRES_DB:?}"
: "${GRAFANA_POSTGRES_PASSWORD:?set GRAFANA_POSTGRES_PASSWORD (see .env.example)}"

psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v reader="${GRAFANA_POSTGRES_USER:-grafana}" \
  -v password="$GRAFANA_POSTGRES_PASSWORD" \
  -v owner="$POSTGRES_USER" \
  -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"reader" LOGIN PASSWORD :'password';
ALTER ROLE :"reader" SET default_transaction_read_only = on;
ALTER ROLE :"reader" SET log_statement = 'all';
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO :"owner", :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
echo "10-grafana-reader.sh: role ${GRAFANA_POSTGRES_USER:-grafana} may read $POSTGRES_DB"
