"""Multi-replica arithmetic shared by the worker, the record and the report: replicas, the batch
each replica and each step hold, and scaling efficiency.

With ``batch_scaling: per_replica`` ``batch_size`` is each replica's batch and the global batch
grows with the replicas (weak scaling); with ``global`` ``batch_size`` is the global batch, split
among them (strong scaling). Scaling efficiency E(N) = T(N) / (N * T(1)), T the global steady
throughput (samples/s) and T(1) the same curve's one-replica point: 1.0 is perfect scaling.
"""

from __future__ import annotations

# Params that may differ between a trial and its one-replica point on the same scaling curve.
NOT_SCALING_PEERS = ("num_gpus", "timeout_s")


def replicas_of(params: dict) -> int:
    """The replicas a trial's params ask for (validation requires distribute: mirrored above 1)."""
    return int(params.get("num_gpus") or 1)


def batches_of(params: dict, replicas: int) -> tuple[int | None, int | None]:
    """``(per_replica_batch, global_batch)`` for ``replicas`` replicas; None without a batch size."""
    if params.get("batch_size") is None:
        return None, None
    batch = int(params["batch_size"])
    if params.get("batch_scaling", "per_replica") == "global":
        return batch // replicas, batch
    return batch, batch * replicas


def efficiency(throughput: float | None, replicas: int, one_replica: float | None) -> float | None:
    """E(N) = T(N) / (N * T(1)); None where either throughput is missing."""
    if throughput is None or not one_replica or replicas < 1:
        return None
    return throughput / (replicas * one_replica)


def scaling_key(params: dict) -> tuple:
    """Trials on one scaling curve share this: every param except num_gpus (and timeout)."""
    return tuple(sorted((k, v) for k, v in params.items() if k not in NOT_SCALING_PEERS))


def one_replica_peer(record: dict, records: list[dict]) -> dict | None:
    """The ok one-replica trial of ``record``'s scaling curve, the same repeat if any."""
    key = scaling_key(record["params"])
    peers = [r for r in records if r["status"] == "ok" and r.get("throughput_sps") and replicas_of(r["params"]) == 1
             and scaling_key(r["params"]) == key]
    same_repeat = [r for r in peers if r["repeat"] == record["repeat"]]
    return (same_repeat or peers or [None])[0]
