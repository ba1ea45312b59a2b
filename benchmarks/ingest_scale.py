"""Ingest of large CSV files: `colrec-jobs ingest` against psql's `\\copy` of the same file into a
plain table on the same server, side by side, with the peak memory of each process.

    python -m benchmarks.ingest_scale [--rows 1000000,10000000]

Each size gets a synthetic ratings file (user, item, rating, ts: 50 interactions per user, about
1/200 as many items as rows) under .bench-cache/, written once. colrec parses, checks and COPYs it in
chunks into staging and merges it in one transaction (users and items implied, the unique event key
checked) into a fresh migrated database; `\\copy` only loads the rows into a table without keys:
the physical anchor. Then the store's own interaction indexes (primary key, the unique event key,
the as-of, user and item indexes) are rebuilt in bulk over the rows just merged (`reindex`): the
least that keeping them costs any load path, so copy / (copy + reindex) bounds the share of `\\copy`
that an indexed store can reach. Peak RSS is the process's own (wait4), the server's memory not
counted (its VmHWM, polled every 50 ms).
Writes benchmarks/results/ingest_scale.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from benchmarks.common import fresh_database, scratch_server, write_results

CACHE = Path(".bench-cache")
MAPPING = "user=user,item=item,rating=rating,ts=ts"


def synthetic_file(rows: int) -> Path:
    import numpy as np
    import polars as pl

    path = CACHE / f"ingest-scale-{rows}.csv"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    users, items = max(rows // 50, 1), max(rows // 200, 100)
    start = 1_600_000_000
    frame = pl.DataFrame({
        "user": pl.Series(rng.integers(0, users, rows)).cast(pl.Utf8).str.pad_start(7, "0"),
        "item": pl.Series(rng.integers(0, items, rows)).cast(pl.Utf8).str.pad_start(7, "0"),
        "rating": rng.integers(1, 6, rows),
        "ts": start + np.arange(rows),  # one event per second: every row a distinct event
    }).with_columns(("u" + pl.col("user")).alias("user"), ("i" + pl.col("item")).alias("item"))  # fmt: skip
    frame.write_csv(path)
    return path


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) of the process itself, and its stdout's last line. The peak is its own
    VmHWM, polled: wait4's ru_maxrss would also count this process's memory at the fork, before exec."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        peak_kb = 0
        while process.poll() is None:
            peak_kb = max(peak_kb, _high_water_kb(process.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        out.seek(0), err.seek(0)
        said, error = out.read(), err.read()
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({process.returncode}): {error.strip()[-500:]}")
    return seconds, peak_kb / 1024, (said.strip().splitlines() or [""])[-1]


def _high_water_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # it has just exited
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def measure(admin_url: str, rows: int) -> dict[str, Any]:
    path = synthetic_file(rows)
    engine = fresh_database(admin_url, f"ingest_scale_{rows}")
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    env = {**os.environ, "DATABASE_URL": url, "COLREC_LOG_LEVEL": "WARNING"}
    colrec = [str(Path(sys.executable).with_name("colrec-jobs")), "ingest", str(path), "-d", "scale", "-f", "csv",
              "--map", MAPPING]  # fmt: skip
    colrec_s, colrec_mb, said = timed(colrec, env)
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    psql = shutil.which("psql") or "psql"
    table = f"copy_anchor_{rows}"
    subprocess.run([psql, libpq, "-qc", f"create table {table} (\"user\" text, item text, rating double precision, "
                    "ts bigint)"], check=True)  # fmt: skip
    copy_s, copy_mb, _ = timed([psql, libpq, "-qc", f"\\copy {table} from '{path}' csv header"], env)
    reindex_s, _, _ = timed([psql, libpq, "-qc", "set maintenance_work_mem = '1GB'; reindex table interactions"], env)
    return {"rows": rows, "file_mb": round(path.stat().st_size / 1e6, 1), "colrec_s": round(colrec_s, 2),
            "colrec_rows_per_s": round(rows / colrec_s), "colrec_peak_rss_mb": round(colrec_mb),
            "copy_s": round(copy_s, 2), "copy_rows_per_s": round(rows / copy_s), "copy_peak_rss_mb": round(copy_mb),
            "colrec_share_of_copy": round(copy_s / colrec_s, 3), "index_rebuild_s": round(reindex_s, 2),
            "indexed_share_bound": round(copy_s / (copy_s + reindex_s), 3), "colrec_said": said}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="1000000,10000000")
    args = parser.parse_args()
    results = []
    with scratch_server() as admin_url:
        for rows in (int(r) for r in args.rows.split(",")):
            result = measure(admin_url, rows)
            print(result, flush=True)
            results.append(result)
    path = write_results("ingest_scale", {"goal": "colrec_share_of_copy >= 0.5", "sizes": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
