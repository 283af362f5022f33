"""Dagster objects: resources, the source asset factory, the catalog asset, checks, schedules,
sensors (change, catalog automation, alerts) and jobs."""
