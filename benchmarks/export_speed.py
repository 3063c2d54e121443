"""Benchmark: `curator export` of a large synthetic run to CSV.

Writes a run of 100,000 training samples x 40 epochs x 7 classes (the same synthetic run as
`review_load.py`), then times `curator.export.export` end to end (scores, labels, CSV), once
per policy, and how much of it is `curator.scores.sample_scores`. Target: under 5 s per export.
Wall and CPU seconds are both printed: on a shared machine the CPU time is the steadier figure.

    python benchmarks/export_speed.py [--samples N] [--epochs E]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from review_load import write_synthetic_run

TARGET_SECONDS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()

    from curator.export import export
    from curator.scores import sample_scores

    with tempfile.TemporaryDirectory(prefix="curator-bench-") as tmp:
        run_dir = Path(tmp) / "run"
        start = time.perf_counter()
        write_synthetic_run(run_dir, args.samples, args.epochs)
        print(f"wrote {args.samples:,} samples x {args.epochs} epochs in "
              f"{time.perf_counter() - start:.1f} s")
        start, cpu = time.perf_counter(), time.process_time()
        sample_scores(run_dir)
        print(f"sample_scores alone: {time.perf_counter() - start:.2f} s "
              f"(CPU {time.process_time() - cpu:.2f} s)")
        for policy in ("keep", "accept-proposals"):
            out = Path(tmp) / f"cleaned-{policy}.csv"
            start, cpu = time.perf_counter(), time.process_time()
            table = export(run_dir, out, policy=policy)
            seconds = time.perf_counter() - start
            verdict = "ok" if seconds < TARGET_SECONDS else f"over the {TARGET_SECONDS:.0f} s target"
            print(f"export --policy {policy}: {len(table):,} rows, {out.stat().st_size / 1e6:.1f} MB "
                  f"in {seconds:.2f} s (CPU {time.process_time() - cpu:.2f} s; {verdict})")


if __name__ == "__main__":
    main()
