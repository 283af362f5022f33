"""model_sync: one exact, always-fresh catalog of AI models, providers and prices, built with Dagster."""

__version__ = "0.1.0"
