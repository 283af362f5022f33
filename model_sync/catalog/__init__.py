"""The catalog: its contract (schema, exact money, providers), its domain (merge, identity,
history, rollup, the audit rules) and its storage (store, upserts, migrations)."""

CATALOG = "model_catalog"  # the combined catalog: its asset, its table, its sync history name
