"""`make bench`: run every benchmark and rewrite BENCHMARKS.md with the machine and the commands.

Each benchmark is a standalone script that prints a markdown section on stdout and
writes its raw numbers as JSON under benchmarks/results/. Figures are ratios taken in one
run against a baseline on the same data, never timed assertions.
Usage: python benchmarks/run_all.py [--quick] [--only etl,quality,...]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PY = sys.executable
RESULTS = PROJECT / "benchmarks" / "results"

# name -> (script args for the full run, args for --quick)
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "dag_import": (["bench_dag_import.py", "--repeat", "3"], ["bench_dag_import.py", "--repeat", "1"]),
    "etl": (["bench_etl.py", "--rows", "100000", "1000000"], ["bench_etl.py", "--rows", "100000"]),
    "validation": (["bench_validation.py", "--rows", "100000"], ["bench_validation.py", "--rows", "20000"]),
    "quality": (["bench_quality.py"], ["bench_quality.py", "--datasets", "airline_tweets,uci_amazon"]),
    "transform": (
        ["bench_transform.py", "--rows", "200000", "--large-mb", "200"],
        ["bench_transform.py", "--rows", "50000", "--large-mb", "0"],
    ),
    "drift": (["bench_drift.py"], ["bench_drift.py", "--quick"]),
    "postgres": (
        ["bench_postgres.py", "--rows", "200000", "--files", "10", "--repeat", "3"],
        ["bench_postgres.py", "--rows", "20000", "--files", "4", "--repeat", "1"],
    ),
    "serving": (
        ["bench_serving.py", "--requests", "2000", "--seconds", "15"],
        ["bench_serving.py", "--requests", "300", "--seconds", "5"],
    ),
    "orchestration": (
        ["bench_orchestration.py", "--rows", "4000", "--batch-rows", "1000"],
        ["bench_orchestration.py", "--rows", "2000", "--batch-rows", "500"],
    ),
}


def notes(name: str) -> str:
    """The hand-written reading of a benchmark (``benchmarks/notes/<name>.md``), kept across runs.

    Each note names the run its figures come from; a re-run that moves them needs the note
    updated (the section above it always shows the fresh numbers).
    """
    path = PROJECT / "benchmarks" / "notes" / f"{name}.md"
    if not path.is_file():
        return ""
    return f"\n### Reading ({path.relative_to(PROJECT)})\n\n{path.read_text(encoding='utf-8').strip()}\n"


def machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr.splitlines()
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"- machine: {platform.machine()}, {os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}\n- Python {platform.python_version()}; {java[0] if java else 'java ?'}\n"
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(BENCHES))
    ap.add_argument("--out", type=Path, default=PROJECT / "BENCHMARKS.md")
    ap.add_argument(
        "--reuse",
        default="",
        help="comma-separated benchmarks whose last section (benchmarks/results/<name>.section.md) is kept, not re-run",
    )
    args = ap.parse_args()
    only = [n for n in args.only.split(",") if n] or list(BENCHES)
    sections = []
    failed = []
    reuse = {n for n in args.reuse.split(",") if n}
    for name in only:
        full, quick = BENCHES[name]
        kept = RESULTS / f"{name}.section.md"
        if name in reuse and kept.is_file():
            sections.append(kept.read_text(encoding="utf-8").strip() + "\n" + notes(name))
            continue
        script, *rest = quick if args.quick else full
        cmd = [PY, f"benchmarks/{script}", *rest]
        print(f"--- {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, check=False)
        took = time.monotonic() - start
        if proc.returncode != 0:
            failed.append(name)
            body = f"FAILED (exit {proc.returncode}):\n\n```\n{proc.stderr[-2000:]}\n```"
        else:
            body = proc.stdout.strip()
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        section = (
            f"## {name}\n\nCommand: `python {' '.join(cmd[1:])}` ({took:.0f} s, finished {stamp}, "
            f"load average {load})\n\n{body}\n"
        )
        if proc.returncode == 0:  # what `--reuse` keeps
            RESULTS.mkdir(parents=True, exist_ok=True)
            kept.write_text(section, encoding="utf-8")
        sections.append(section + notes(name))
        print(body[-1500:], flush=True)
    png = PROJECT / "benchmarks" / "results" / "drift_power.png"
    if "drift" in only and png.is_file():
        curve = "![alarm rate vs drift magnitude](benchmarks/results/drift_power.png)"
        sections.append(f"## drift power curve\n\n{curve}\n")
    text = (
        "# Benchmarks\n\nProduced by `make bench` (`python benchmarks/run_all.py`); raw numbers in "
        f"`benchmarks/results/`.\n\n{machine()}\n\n" + "\n".join(sections)
    )
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
