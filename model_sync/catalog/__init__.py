"""The catalog: its contract (contract, exact money, providers), its domain (merge, identity,
history, rollup, the audit rules) and its storage (schema, engine, store, writes, upserts,
migrations)."""

CATALOG = "model_catalog"  # the combined catalog: its asset, its table, its sync history name
