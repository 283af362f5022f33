"""Batch work without the cyclic garbage collector: a sync allocates millions of small,
acyclic dicts, lists and Decimals that reference counting frees on its own, and every collection
pass also walks the whole resident heap (Dagster's definitions included): a third of a sync's
CPU went there. Collection resumes, with a pass of its own, when the batch ends.
"""

import gc
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def without_gc(fn: F) -> F:
    """Run `fn` with the cyclic collector paused (nested calls leave it to the outermost)."""
    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()
            gc.collect(0)  # the young objects the batch left, not the whole heap

    return run  # type: ignore[return-value]


def collect_young() -> None:
    """Inside a batch, collect the young cyclic garbage now (the collector is paused).

    For work that leaves a cycle per step: each HTTP exchange does (httpx's response and its
    stream refer to each other, and hold the response's body), so a listing of 100 pages would
    keep 100 bodies until the batch ends. Cheap: only the objects allocated since the last
    collection that are still alive are walked."""
    if not gc.isenabled():
        gc.collect(1)
