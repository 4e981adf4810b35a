"""FLOPs counted once per architecture per run (``benchharness.cost`` does the counting).

Counting takes about 3 s for a MobileNet here, and a batch sweep builds the same architecture in
every trial: the count is kept in the run's ``cost/`` directory under a hash of the model's full
Keras config (layers, names, shapes, dtypes), the bytes per element and ``COST_FORMAT``, so only an
identical model counted the same way reuses it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

# The keys of the cached cost dict: bump when ``cost.model_cost`` returns other keys, so an entry
# written before (a resumed run's ``cost/``) is counted afresh instead of read without them.
# 2: ``weight_bytes`` and ``activation_bytes_per_sample``.
COST_FORMAT = 2


def measure_cost(tf, model, runtime: dict, cache_dir: str | None = None) -> dict | None:
    """Forward FLOPs, MACs and memory access cost of one sample, with ``per_layer_macs``.
    A model the profiler cannot freeze gets None (and the trial goes on): never a guessed figure."""
    from benchharness.cost import model_cost

    bytes_per_element = 2 if runtime.get("mixed_precision") else 4
    cached = cost_cache_path(model, bytes_per_element, cache_dir)
    if cached is not None and cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    try:
        cost = model_cost(tf, model, tuple(model.input_shape[1:]), bytes_per_element)
    except Exception as exc:  # the count is a by-product; the training measurement must not be lost
        print(f"benchharness: FLOPs not counted: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    if cached is not None:
        from benchharness.atomic import write_json_atomically

        cached.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(cached, cost)  # a trial killed mid-write leaves no half-written count
    return cost


def cost_cache_path(model, bytes_per_element: int, cache_dir: str | None) -> Path | None:
    """Where this exact architecture's count is kept; None without a cache or for a model whose
    config cannot be serialised (a custom layer without ``get_config``): it is then counted afresh."""
    if not cache_dir:
        return None
    try:
        config = model.to_json()
    except Exception:
        return None
    key = f"{config}|{bytes_per_element}|{COST_FORMAT}"  # the config holds the input shape
    digest = hashlib.sha256(key.encode()).hexdigest()
    return Path(cache_dir) / f"{digest[:24]}.json"
