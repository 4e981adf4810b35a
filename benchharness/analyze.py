"""Analysis across trials: pure functions over trial records (dicts), shared by the CLI summary and
the report. Nothing here reads files or touches TensorFlow."""

from __future__ import annotations

# What must match for two trials to be compared as "the same training, dense vs pruned".
PRUNING_PEERS = ("model", "dataset", "batch_size", "samples_per_epoch", "epochs")


def dense_peer(record: dict, records: list[dict]) -> dict | None:
    """The ok dense trial (sparsity 0) with the same model, dataset and batch size, same repeat if any."""
    key = tuple(record["params"].get(k) for k in PRUNING_PEERS)
    peers = [r for r in records if r["status"] == "ok" and not r["params"].get("sparsity")
             and tuple(r["params"].get(k) for k in PRUNING_PEERS) == key]
    same_repeat = [r for r in peers if r["repeat"] == record["repeat"]]
    return (same_repeat or peers or [None])[0]


def throughput_vs_dense(record: dict, records: list[dict]) -> float | None:
    """A pruned trial's steady throughput divided by its dense peer's (1.0 = no cost); None if
    either is missing. Unstructured pruning keeps dense kernels, so expect about 1.0 or below."""
    if not record["params"].get("sparsity") or record.get("throughput_sps") is None:
        return None
    peer = dense_peer(record, records)
    if peer is None or not peer.get("throughput_sps"):
        return None
    return record["throughput_sps"] / peer["throughput_sps"]
