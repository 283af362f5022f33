"""Dagster objects: resources, the source asset factory, the catalog asset, checks, schedules."""
