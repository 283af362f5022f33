"""model_sync: one exact, always-fresh catalog of AI models, their providers and prices."""

import importlib

__version__ = "0.1.0"


def __getattr__(name: str):
    """`model_sync.cost(provider, model, usage, at=None, mode="standard", region=None)`, loaded
    on first use: importing model_sync (as every source does) loads no database code."""
    if name in ("cost", "Cost", "PricingError"):
        return getattr(importlib.import_module("model_sync.pricing.lookup"), name)
    raise AttributeError(f"module 'model_sync' has no attribute {name!r}")
