#!/usr/bin/env bash
# First start of the postgres container: a role and a database for the catalog, beside the
# Dagster instance's database. The password comes from the container's environment.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v password="$MODEL_SYNC_PG_PASSWORD" <<'SQL'
CREATE ROLE model_sync LOGIN PASSWORD :'password';
CREATE DATABASE model_sync OWNER model_sync;
SQL
