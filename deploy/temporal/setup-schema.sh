#!/bin/sh
# One-shot, in temporalio/admin-tools: create or upgrade Temporal's schemas before the server starts (what the
# deprecated auto-setup image did on every start). Safe to rerun: setup-schema -v 0.0 only adds the version
# tables, update-schema applies the versions not yet applied. The databases exist already
# (deploy/postgres/init-databases.sh). SQL_PASSWORD is read by temporal-sql-tool from the environment.
set -eu
: "${POSTGRES_SEEDS:?}" "${DB_PORT:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
SCHEMA=/etc/temporal/schema/postgresql/v12

sql() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"; }

for db in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  name=${db%%:*}
  dir=${db##*:}
  echo "schema of $name"
  sql --db "$name" setup-schema -v 0.0
  sql --db "$name" update-schema -d "$SCHEMA/$dir/versioned"
done
echo "Temporal schemas are up to date"
