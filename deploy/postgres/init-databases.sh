#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume (/docker-entrypoint-initdb.d).
# One server, three databases, two roles: `workbench` owns the app's database; `temporal` owns Temporal's
# persistence and visibility databases (temporal-sql-tool then creates their schemas as that owner).
# Passwords come from the environment (compose .env), passed to psql as variables so they are quoted safely.
set -eu
: "${APP_DB_PASSWORD:?set APP_DB_PASSWORD}"
: "${TEMPORAL_DB_PASSWORD:?set TEMPORAL_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v app_password="$APP_DB_PASSWORD" -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE workbench LOGIN PASSWORD :'app_password';
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE workbench OWNER workbench;
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
SQL
