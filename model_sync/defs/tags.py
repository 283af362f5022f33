"""The run and asset tags model_sync sets, named once."""

TRIGGER_TAG = "model_sync/trigger"  # what started a run: cli, full_resync, change_sensor, e2e
SOURCE_TAG = "model_sync/source"  # the source a run syncs: one queued run per source at a time
ROLE_TAG = "model_sync/role"  # a source asset's role: provider, registry, benchmarks, models
