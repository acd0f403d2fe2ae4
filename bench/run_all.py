"""Run every benchmark in bench/ and rewrite bench/results.md.

    python bench/run_all.py            # full figures (minutes)
    python bench/run_all.py --smoke    # tiny sizes: keeps benchmarks working; figures meaningless
    python bench/run_all.py --only language,dedupe

Each bench/bench_<area>.py exposes `run(smoke: bool) -> str` returning a markdown section with
its own command, figures and ratios against a baseline measured in the same process.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    """Return a one-line description of this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def _load(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--output", default=str(HERE / "results.md"))
    args = parser.parse_args()
    wanted = {x.strip() for x in args.only.split(",") if x.strip()}
    sections = []
    failures = 0
    for path in sorted(HERE.glob("bench_*.py")):
        area = path.stem.removeprefix("bench_")
        if wanted and area not in wanted:
            continue
        started = time.perf_counter()
        print(f"== {area}", flush=True)
        try:
            sections.append(_load(path).run(smoke=args.smoke))
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failures += 1
            sections.append(f"## {area}\n\nFAILED: {type(exc).__name__}: {exc}\n")
        print(f"   {time.perf_counter() - started:.1f}s", flush=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    header = (
        "# Benchmark results\n\n"
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, commit {commit or 'unknown'}\n"
        f"- machine: {machine()}\n"
        f"- command: `python bench/run_all.py{' --smoke' if args.smoke else ''}"
        f"{' --only ' + args.only if args.only else ''}`\n"
        "- These machines are shared and noisy: compare the ratios (against a baseline run in "
        "the same process), not absolute times.\n"
        "- Where a target is not met, the gap and the plan are in `bench/PROFILE.md` "
        "(section 'Gaps to the targets, and the plan').\n"
    )
    if args.smoke:
        header += "- SMOKE RUN: sizes are tiny; figures are not meaningful.\n"
    Path(args.output).write_text(header + "\n" + "\n".join(sections), encoding="utf-8")
    print(f"wrote {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
