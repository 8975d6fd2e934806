"""Speed of the diagnostics (issue 4) against R metafor on the same data, in one run.

    .venv/bin/python benchmarks/bench_diagnostics.py [--quick]

Python and R (Rscript + metafor, when installed; otherwise a message and Python times only) run
on the same seeded synthetic data (k = 16). Timings are wall-clock on this machine.

- GOSH, REML, k = 16 (65,535 subsets): Python fits all subsets. metafor's gosh() needs several
  minutes for this (101 s were measured for k = 14), so R is timed on a random sample of
  subsets (gosh(..., subsets = N_R), same distribution of subset sizes: Binomial(k, 1/2)) and
  extrapolated per fit to 65,535 fits. The output says so.
- GOSH, DL, k = 16: both fit all 65,535 subsets.
- permutest with 1,000 random permutations (REML, one continuous moderator).
- leave1out and influence (REML, k = 16): repeated, median time per call.

Targets (issue 4): GOSH REML >= 100x, permutest >= 20x, leave1out and influence >= 10x.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mscreview.diagnostics.gosh import gosh  # noqa: E402
from mscreview.diagnostics.permutest import permutest  # noqa: E402
from mscreview.diagnostics.influence import influence, leave1out  # noqa: E402

K = 16
N_ALL = 2 ** K - 1


def data(k=K, seed=2024):
    rng = np.random.default_rng(seed)
    ni = rng.integers(20, 200, k)
    vi = 4 / ni + rng.uniform(0, 0.01, k)
    yi = rng.normal(0.4, np.sqrt(vi + 0.09))
    x1 = np.round(rng.normal(size=k), 3)
    return yi, vi, x1


def timeit(fn, reps):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


R_SCRIPT = r"""
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- fromJSON(args[1]); nr <- as.integer(args[2]); reps <- as.integer(args[3])
tm <- function(f, n = 1) median(replicate(n, system.time(f())[["elapsed"]]))
fit <- rma(d$yi, d$vi, method = "REML")
fitdl <- rma(d$yi, d$vi, method = "DL")
fitm <- rma(d$yi, d$vi, mods = ~ d$x1, method = "REML")
out <- list(
  metafor = as.character(packageVersion("metafor")),
  gosh_reml_sample = tm(function() gosh(fit, subsets = nr, progbar = FALSE, seed = 1)),
  gosh_reml_sample_n = nr,
  gosh_dl_all = tm(function() gosh(fitdl, progbar = FALSE)),
  permutest_1000 = tm(function() permutest(fitm, iter = 1000, progbar = FALSE, seed = 1)),
  leave1out = tm(function() leave1out(fit), reps),
  influence = tm(function() influence(fit), reps))
cat(toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def run_r(yi, vi, x1, n_r, reps):
    if shutil.which("Rscript") is None:
        print("Rscript not found: skipping metafor (Python times only).")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        dpath = Path(tmp) / "d.json"
        dpath.write_text(json.dumps({"yi": yi.tolist(), "vi": vi.tolist(), "x1": x1.tolist()}))
        spath = Path(tmp) / "bench.R"
        spath.write_text(R_SCRIPT)
        proc = subprocess.run(["Rscript", str(spath), str(dpath), str(n_r), str(reps)],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        print("R benchmark failed; skipping metafor:\n" + proc.stderr[-2000:])
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer R subsets and repetitions")
    a = ap.parse_args(argv)
    n_r = 1000 if a.quick else 4000
    reps = 3 if a.quick else 10
    yi, vi, x1 = data()

    gosh(yi[:8], vi[:8], progress=False)          # warm-up (imports, caches)
    py = {
        "gosh_reml_all": timeit(lambda: gosh(yi, vi, method="REML", progress=False), 3),
        "gosh_dl_all": timeit(lambda: gosh(yi, vi, method="DL", progress=False), 3),
        "permutest_1000": timeit(lambda: permutest(yi, vi, mods=x1, iter=1000, seed=1,
                                                   progress=False), 3),
        "leave1out": timeit(lambda: leave1out(yi, vi), reps * 3),
        "influence": timeit(lambda: influence(yi, vi), reps * 3),
    }
    r = run_r(yi, vi, x1, n_r, reps)
    rows = [("GOSH REML k=16 (65,535 fits)", "gosh_reml_all", 100),
            ("GOSH DL k=16 (65,535 fits)", "gosh_dl_all", None),
            ("permutest 1,000 iterations (REML, 1 moderator)", "permutest_1000", 20),
            ("leave1out (REML, k=16)", "leave1out", 10),
            ("influence (REML, k=16)", "influence", 10)]
    print(f"\nDiagnostics benchmark, k = {K}, seeded synthetic data; wall-clock seconds.")
    if r is not None:
        print(f"metafor {r['metafor']}")
        r_times = {"gosh_reml_all": r["gosh_reml_sample"] / r["gosh_reml_sample_n"] * N_ALL,
                   "gosh_dl_all": r["gosh_dl_all"], "permutest_1000": r["permutest_1000"],
                   "leave1out": r["leave1out"], "influence": r["influence"]}
        print(f"(metafor GOSH REML extrapolated from {r['gosh_reml_sample_n']} random subsets "
              f"in {r['gosh_reml_sample']:.2f} s: "
              f"{1e3 * r['gosh_reml_sample'] / r['gosh_reml_sample_n']:.2f} ms per fit)")
    print(f"{'task':50s} {'python':>10s} {'metafor':>10s} {'ratio':>8s} {'target':>8s}")
    for label, key, target in rows:
        rt = r_times[key] if r is not None else float("nan")
        ratio = rt / py[key] if r is not None else float("nan")
        tgt = f">={target}x" if target else ""
        ok = "" if (r is None or not target) else ("  ok" if ratio >= target else "  BELOW TARGET")
        print(f"{label:50s} {py[key]:10.4f} {rt:10.4f} {ratio:8.1f} {tgt:>8s}{ok}")


if __name__ == "__main__":
    main()
