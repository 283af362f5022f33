"""Fetching listings over HTTP (httpx): retries, limits, paginators, and offline replay.

Standalone: nothing here knows a source, the catalog or Dagster.
"""

from model_sync.http.body import BodyError
from model_sync.http.client import HttpSettings, SourceClient
from model_sync.http.credentials import Credentials
from model_sync.http.errors import FetchError, NotRecorded
from model_sync.http.listing import Listing, Page
from model_sync.http.probe import Probe
from model_sync.http.replay import ReplayTransport

__all__ = ["BodyError", "Credentials", "FetchError", "HttpSettings", "Listing", "NotRecorded",
           "Page", "Probe", "ReplayTransport", "SourceClient"]
