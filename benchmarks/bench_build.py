"""Build benchmark: cold build time, no-change rebuild time, byte-identity of two builds.

Runs ``python -m mscreview build`` as a user would (a new process each time), publishing into
temporary directories so the working tree is untouched:

1. cold build into A (no stamp)                      target <= 60 s on the 2-core machine
2. the same command again, nothing changed           target <= 2 s (skipped via the stamp)
3. a second cold build into B; every output file of A and B compared byte for byte
   (figures in PDF/SVG/PNG/TIFF, tables, results.json, manuscript.md)

Usage: ``.venv/bin/python benchmarks/bench_build.py`` (or ``make bench``).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLD_TARGET, REBUILD_TARGET = 60.0, 2.0


def run(out: Path, bdir: Path) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "mscreview", "build", "--no-progress", "--out", str(out), "--build-dir", str(bdir)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"build failed:\n{r.stdout}\n{r.stderr}")
    return dt, r.stdout


def digests(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def main() -> int:
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench_build_") as tmp:
        tmp = Path(tmp)
        cold, out = run(tmp / "A", tmp / "build_A")
        print(out.strip().splitlines()[-1])
        rebuild, out2 = run(tmp / "A", tmp / "build_A")
        print(out2.strip().splitlines()[-1])
        cold2, _ = run(tmp / "B", tmp / "build_B")
        a, b = digests(tmp / "A"), digests(tmp / "B")
        differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        n_fig = sum(1 for k in a if k.startswith("figures/") and not k.endswith(".md"))
    print()
    print(f"cold build            {cold:6.1f} s   (target <= {COLD_TARGET:.0f} s)  {'OK' if cold <= COLD_TARGET else 'MISSED'}")
    print(f"second cold build     {cold2:6.1f} s")
    print(f"no-change rebuild     {rebuild:6.2f} s   (target <= {REBUILD_TARGET:.0f} s)  "
          f"{'OK' if rebuild <= REBUILD_TARGET and 'Up to date' in out2 else 'MISSED'}")
    if "Up to date" not in out2:
        why = [l for l in out2.splitlines() if l.startswith(("Inputs changed", "Outputs missing"))]
        print(f"  (rebuild not skipped: {why[0] if why else 'see output'}; another process edited inputs?)")
    print(f"byte-identical        {len(a) - len(differ)}/{len(a)} output files identical "
          f"({n_fig} figure files){'' if not differ else '; differ: ' + ', '.join(differ[:10])}")
    return 0 if not differ else 1


if __name__ == "__main__":
    sys.exit(main())
