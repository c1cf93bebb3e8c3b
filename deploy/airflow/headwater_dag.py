"""Runs a Headwater pipeline as N shards in parallel, then shows its status.

An Airflow 2 DAG (2.4 or later: dynamic task mapping, ``schedule=``). Each
mapped task runs ``headwater run PIPELINE --shard i/N`` for one i in 1..N; when
they are all done, one task runs ``headwater status PIPELINE``.

The workers need the ``headwater`` binary on their PATH (or ``HEADWATER_BIN``),
the pipeline file at ``HEADWATER_PIPELINE``, and the environment its ``auth``
entries read (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` for the example
in deploy/kubernetes/indexed-job.yaml). The pipeline's sink should be
``format = "delta"``: each shard's progress is then committed with its rows, so
a retry may run on any worker, and a shard still running elsewhere (a zombie)
is refused at commit rather than landing rows twice.

To run each shard in a pod of the image deploy/Dockerfile builds instead, map
``KubernetesPodOperator`` (apache-airflow-providers-cncf-kubernetes) the same
way: ``KubernetesPodOperator.partial(image=..., cmds=["headwater"], ...)
.expand(arguments=[["run", PIPELINE, "--shard", f"{i}/{SHARDS}"] for i in ...])``.

Exit codes: 0 ok, 1 the run failed (retried), 2 a mistake in the pipeline file
or its config (failed at once: a retry would fail the same way).

deploy/check.sh compiles this file (``python3 -m py_compile``). It was also run
once by hand under Airflow 2.10.5 (``dag.test()``) against a stub ``headwater``
script, not the real binary: see deploy/README.md.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta, timezone

from airflow.decorators import dag, task
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.utils.trigger_rule import TriggerRule

PIPELINE = os.environ.get("HEADWATER_PIPELINE", "/etc/headwater/pipeline.toml")
SHARDS = int(os.environ.get("HEADWATER_SHARDS", "8"))
HEADWATER = os.environ.get("HEADWATER_BIN", "headwater")

# headwater's exit code for a bad pipeline file, config or usage.
USER_ERROR = 2


def headwater(*args: str) -> int:
    """Runs headwater, its output streamed line by line into the task's log."""
    command = [HEADWATER, *args]
    print("running:", " ".join(command), flush=True)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
        return process.wait()


@task(retries=2, retry_delay=timedelta(minutes=2))
def run_shard(shard: int) -> None:
    """One shard of the run: ``headwater run PIPELINE --shard shard/SHARDS``."""
    code = headwater("run", PIPELINE, "--shard", f"{shard}/{SHARDS}")
    if code == USER_ERROR:
        raise AirflowFailException(
            f"shard {shard}/{SHARDS}: headwater exited {code}, a mistake in {PIPELINE} "
            "or its config; not retried"
        )
    if code != 0:
        raise AirflowException(f"shard {shard}/{SHARDS}: headwater exited {code}")


@task(trigger_rule=TriggerRule.ALL_DONE, retries=0)
def status() -> None:
    """Per stream and shard: the committed version, watermark and last commit time."""
    code = headwater("status", PIPELINE)
    if code != 0:
        raise AirflowException(f"headwater status exited {code}")


@task(trigger_rule=TriggerRule.ONE_FAILED, retries=0)
def fail_if_a_shard_failed() -> None:
    """Fails the DAG run when a shard failed: `status`, which runs whatever
    happened, would otherwise be a successful last task and the run would
    count as a success. Skipped when every shard succeeded."""
    raise AirflowException("a shard failed: see its log, and `status` for what each shard committed")


@dag(
    dag_id="headwater_orders",
    schedule="@hourly",
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    # One run at a time: two runs of the same shard would compete for its
    # commits (the second is refused), so overlapping runs only waste work.
    max_active_runs=1,
    tags=["headwater"],
)
def headwater_orders() -> None:
    shards = run_shard.expand(shard=list(range(1, SHARDS + 1)))
    shards >> status()
    shards >> fail_if_a_shard_failed()


headwater_orders_dag = headwater_orders()
