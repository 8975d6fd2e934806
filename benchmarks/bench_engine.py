"""Speed of the engine side by side with R metafor, on the same data in one run.

Times (1) a single REML random-effects fit at k = 16 (``mscreview.engine.rma.rma``
vs ``metafor::rma``) and (2) REML tau^2 for a batch of 10,000 random
meta-analyses (``mscreview.engine.tau2.estimate_batch``, vectorised across data sets,
vs a loop of ``metafor::rma`` calls, which is how metafor does it).  The data
are seeded random numbers written to a temporary CSV that both sides read.
When ``Rscript`` (with metafor) is absent it prints
"R not found, skipping metafor" and times Python only.

Usage::

    .venv/bin/python benchmarks/bench_engine.py [--sets 10000] [--k 16] [--r-sets N]

``--r-sets`` limits how many of the sets R fits (default all); the per-fit
time is then extrapolated and labelled so.  This is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from mscreview.engine.rma import rma  # noqa: E402
from mscreview.engine.tau2 import estimate_batch  # noqa: E402

R_CODE = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(TRUE)
single <- read.csv(args[1]); batch <- read.csv(args[2]); n_r <- as.integer(args[3]); reps <- as.integer(args[4])
yi <- single$yi; vi <- single$vi
invisible(rma(yi, vi))
t0 <- proc.time()[["elapsed"]]
for (i in seq_len(reps)) res <- rma(yi, vi, method = "REML")
t_single <- (proc.time()[["elapsed"]] - t0) / reps
k <- ncol(batch) / 2
Y <- as.matrix(batch[, 1:k]); V <- as.matrix(batch[, (k + 1):(2 * k)])
tau2 <- rep(NA_real_, n_r)
t0 <- proc.time()[["elapsed"]]
for (i in seq_len(n_r)) {
  fit <- tryCatch(rma(Y[i, ], V[i, ], method = "REML"), error = function(e) NULL)
  if (!is.null(fit)) tau2[i] <- fit$tau2
}
t_batch <- proc.time()[["elapsed"]] - t0
cat(sprintf("%.17g\n", c(t_single, res$tau2, t_batch)))
cat(sprintf("%.17g", tau2), sep = "\n")
"""


def best_of(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--r-sets", type=int, default=None, help="number of sets R fits (default: all)")
    ap.add_argument("--reps", type=int, default=500, help="repetitions of the single fit")
    ap.add_argument("--seed", type=int, default=20261126)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    k, n = args.k, args.sets
    vi = rng.uniform(0.01, 0.3, k)
    yi = rng.normal(0.3, np.sqrt(vi + 0.1))
    V = rng.uniform(0.01, 0.3, (n, k))
    Y = rng.normal(0.3, np.sqrt(V + rng.uniform(0, 0.3, (n, 1))))

    rma(yi, vi)  # warm up imports
    reps = args.reps
    t_single = best_of(lambda: [rma(yi, vi, method="REML") for _ in range(reps)]) / reps
    py_tau2_single = rma(yi, vi).tau2
    t_batch = best_of(lambda: estimate_batch(Y, V, method="REML"), repeats=3)
    py_tau2 = estimate_batch(Y, V, method="REML")

    print(f"Python (mscreview): single REML fit k={k}: {t_single * 1e3:.4f} ms; "
          f"batch of {n} REML fits (vectorised): {t_batch * 1e3:.1f} ms "
          f"({t_batch / n * 1e6:.2f} us per fit)")

    rscript = shutil.which("Rscript")
    ok = False
    if rscript:
        ok = subprocess.run([rscript, "-e", "library(metafor)"], capture_output=True).returncode == 0
    if not ok:
        print("R not found, skipping metafor")
        return 0
    n_r = n if args.r_sets is None else min(args.r_sets, n)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savetxt(tmp / "single.csv", np.c_[yi, vi], delimiter=",", header="yi,vi", comments="",
                   fmt="%.17g")
        head = ",".join([f"y{j}" for j in range(k)] + [f"v{j}" for j in range(k)])
        np.savetxt(tmp / "batch.csv", np.c_[Y, V], delimiter=",", header=head, comments="", fmt="%.17g")
        (tmp / "bench.R").write_text(R_CODE)
        out = subprocess.run([rscript, str(tmp / "bench.R"), str(tmp / "single.csv"),
                              str(tmp / "batch.csv"), str(n_r), str(min(reps, 300))],
                             capture_output=True, text=True, check=True).stdout.split()
    r_single, r_tau2_single, r_batch = map(float, out[:3])
    r_tau2 = np.array([float(x) if x != "NA" else np.nan for x in out[3:]])
    r_batch_full = r_batch * n / n_r
    label = "" if n_r == n else f" (measured on {n_r} sets, scaled to {n})"
    print(f"R metafor: single REML fit: {r_single * 1e3:.4f} ms; loop of {n} REML fits: "
          f"{r_batch_full * 1e3:.1f} ms{label}")
    print(f"Ratio single fit (ours / metafor): 1/{r_single / t_single:.1f}  (target: <= 1/20)")
    print(f"Ratio batch (ours / metafor):      1/{r_batch_full / t_batch:.1f}")
    both = ~np.isnan(r_tau2)
    diff = np.abs(py_tau2[:n_r][both] - r_tau2[both])
    print(f"Agreement: single tau2 |diff| = {abs(py_tau2_single - r_tau2_single):.2e}; batch max |diff| "
          f"= {diff.max():.2e} over {both.sum()} sets (metafor default threshold 1e-5; "
          f"{(~both).sum()} sets where metafor stopped with an error)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
