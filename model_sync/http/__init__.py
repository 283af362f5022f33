"""Fetching sources over HTTP (httpx): retries, limits, paging, and offline replay."""

from model_sync.http.client import (
    FetchError,
    HttpSettings,
    NotRecorded,
    Page,
    Probe,
    SourceClient,
)
from model_sync.http.replay import ReplayTransport

__all__ = ["FetchError", "HttpSettings", "NotRecorded", "Page", "Probe", "ReplayTransport",
           "SourceClient"]
