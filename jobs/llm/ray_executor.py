"""The ray executor: a job's unseen prompts run on engine replicas of a Ray cluster
(settings.ray_address, from RAY_ADDRESS; a local instance when unset), through Ray Data.

The driver enqueues the prompts in the store (`llm_requests`, `ray_partition_size` to a
partition). Ray Data maps partition numbers over an actor pool of `ray_replicas` engines, one
engine per actor (vLLM with `vllm_tensor_parallel` GPUs, or transformers). A replica reads its
partition from the store, runs it, and commits the outputs to `llm_cache` (COPY) while deleting
the partition's requests, in one transaction: a partition is done or not at all, and a retried
one finds nothing to redo. The job itself reads the outputs back from the cache and writes its
results as with the local executor, so nothing is published before the whole job succeeds.

A dead replica is restarted and its partition retried `ray_retries` times; after that the job
fails, and its rerun sends only the partitions that never committed.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from colrec.errors import ColrecError
from colrec_store import db
from colrec_store.config import Settings
from colrec_store.repositories import llm_requests
from jobs.common.console import progress
from jobs.common.context import JobContext, one_line
from jobs.llm.task import LLMTask

log = logging.getLogger(__name__)

# Ray runs its workers at niceness 15 by default, so that they never starve its own daemons. Here
# the workers are the job's engine replicas, its main work: on a shared machine (two cores, another
# job beside this one) nice 15 left them a few percent of a core, and a replica took minutes to
# load a tiny model. A local instance runs them at the job's own priority.
LOCAL_RAY: dict[str, Any] = {"_system_config": {"worker_niceness": 0}}


class PartitionWorker:
    """One engine replica: for each partition number, read, run, commit."""

    def __init__(self, task: LLMTask, url: str) -> None:
        self.task = task
        self.engine = task.open_engine()
        self.store = db.make_engine(url)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        done = [self._partition(int(p)) for p in batch["partition"]]
        return {"partition": batch["partition"], "prompts": np.array(done, dtype=np.int64)}

    def _partition(self, partition: int) -> int:
        task = self.task
        with db.transaction(self.store) as session:
            waiting = llm_requests.read_partition(session, task.run_id, partition)
        outputs = task.answer(self.engine, [p for _, p in waiting]) if waiting else []
        with db.transaction(self.store) as session:
            task.store(session, dict(zip((h for h, _ in waiting), outputs, strict=True)))
            llm_requests.remove_partition(session, task.run_id, partition)
        return len(waiting)


def run_partitions(ctx: JobContext, task: LLMTask, prompts: list[tuple[str, str]]) -> int:
    """Run (prompt hash, prompt) pairs on the cluster; their outputs are in the cache when this
    returns. The number of partitions."""
    s = ctx.settings
    with ctx.transaction() as session:
        partitions = llm_requests.enqueue(session, task.run_id, prompts, s.ray_partition_size)
    try:
        dataset = _pipeline(s, task, ctx.url, partitions)
        with progress() as bar:
            shown = bar.add_task(f"LLM {task.model_name} on Ray ({partitions} partitions)", total=len(prompts))
            for batch in dataset.iter_batches(batch_size=None):
                bar.advance(shown, int(batch["prompts"].sum()))
    except Exception as err:
        raise ColrecError(f"ray executor: run {task.run_id} failed: {_cause(err)}") from None
    finally:
        with ctx.transaction() as session:
            left = llm_requests.clear(session, task.run_id)
        if left:
            log.warning("run %d: %d prompts never ran (their partitions did not commit)", task.run_id, left)
    return partitions


def _pipeline(s: Settings, task: LLMTask, url: str, partitions: int) -> Any:
    import ray
    from ray.data import ActorPoolStrategy

    connect(s)
    items = [{"partition": p} for p in range(partitions)]
    return ray.data.from_items(items, override_num_blocks=partitions).map_batches(
        PartitionWorker,
        fn_constructor_args=(task, url),
        batch_size=1,
        compute=ActorPoolStrategy(size=min(s.ray_replicas, partitions)),
        num_cpus=s.ray_cpus_per_replica,
        num_gpus=s.ray_gpus_per_replica,
        max_restarts=s.ray_retries,  # Ray Data's default is to restart and retry forever
        max_task_retries=s.ray_retries,
    )


def connect(settings: Settings) -> None:
    """Join the cluster at settings.ray_address (RAY_ADDRESS), or start a local instance (once per process)."""
    import ray
    from ray.data import DataContext

    if not ray.is_initialized():
        address = settings.ray_address
        log.info("ray: %s", f"joining the cluster at {address}" if address else "starting a local instance")
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                 **({} if address else LOCAL_RAY))  # fmt: skip
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # its INFO lines dump every operator's stats
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "bars disabled": we show ours
    context = DataContext.get_current()
    context.enable_progress_bars = False  # the job shows its own
    context.print_on_execution_start = False


def _cause(err: BaseException) -> str:
    """The innermost error of a Ray failure (Ray wraps the worker's error several times)."""
    cause: BaseException = err
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return one_line(cause)
