"""Print the largest deviation from metafor / clubSandwich per quantity group.

Usage (from the repository root)::

    .venv/bin/python tests/reference/engine_deviations.py

Reads tests/reference/engine_reference.json; relative deviations are
``|ours - theirs| / max(|theirs|, 1e-8)``: below 1e-8 the absolute deviation is
the meaningful one (e.g. tau2 = 0 exactly here and 4e-13 in metafor, which
stops its iterations a hair above the boundary).
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from mscreview.engine.effectsize import escalc  # noqa: E402
from mscreview.engine.rma import rma  # noqa: E402
from mscreview.engine.multilevel import rma_mv, vcov_shared_control  # noqa: E402
from mscreview.engine.robust import coef_test  # noqa: E402
from mscreview.engine.rma import fit_batch  # noqa: E402

REF = json.loads((ROOT / "tests/reference/engine_reference.json").read_text())
ITER = {"ML", "REML", "EB", "PM"}
dev = defaultdict(lambda: [0.0, 0.0, 0])


def add(group, ours, theirs):
    o = np.atleast_1d(np.asarray(ours, dtype=float))
    t = np.atleast_1d(np.asarray([np.nan if x is None else x for x in np.atleast_1d(theirs)], dtype=float))
    ok = ~(np.isnan(o) | np.isnan(t))
    if not ok.any():
        return
    a = np.abs(o[ok] - t[ok])
    r = a / np.maximum(np.abs(t[ok]), 1e-8)
    d = dev[group]
    d[0], d[1], d[2] = max(d[0], a.max()), max(d[1], r.max()), d[2] + ok.sum()


def fit_groups(res, v, kind):
    add(f"{kind} tau2", res.tau2, v["tau2"])
    add(f"{kind} beta, se, CI", np.r_[res.beta, res.beta_se, res.beta_ci_low, res.beta_ci_high],
        v["beta"] + v["se"] + v["ci.lb"] + v["ci.ub"])
    add(f"{kind} statistic, p-value", np.r_[res.beta_statistic, res.beta_pvalue], v["zval"] + v["pval"])
    add(f"{kind} Q, I2, H2, QM", [res.q, res.i2, res.h2, res.qm], [v["QE"][0], v["I2"][0], v["H2"][0], v["QM"][0]])
    add(f"{kind} weights (%)", res.weights, v["weights"])
    if v.get("pi.lb"):
        add(f"{kind} prediction interval", [res.pi_low, res.pi_high], [v["pi.lb"][0], v["pi.ub"][0]])
    if "confint" in v:
        ci = res.confint()
        add("Q-profile CI (tau2, I2, H2)",
            [ci.tau2_ci_low, ci.tau2_ci_high, ci.i2_ci_low, ci.i2_ci_high, ci.h2_ci_low, ci.h2_ci_high],
            v["confint"]["tau2"][1:] + v["confint"]["I2"][1:] + v["confint"]["H2"][1:])


def main():
    for c in REF["escalc"]:
        if "ti" in c["args"]:
            continue
        opts = {k: (x[0] if isinstance(x, list) else x) for k, x in (c["options"] or {}).items()}
        out = escalc(c["measure"], **{k: np.array(x) for k, x in c["args"].items()}, **opts)
        add("escalc yi, vi", np.r_[out.yi, out.vi], c["yi"] + c["vi"])
    for c in REF["rma"]:
        d = REF["datasets"][c["data"]]
        kind = "iterative" if c["method"] in ITER else "closed-form"
        fit_groups(rma(d["yi"], d["vi"], method=c["method"], test=c["test"]), c["values"], kind)
    data = pd.DataFrame(REF["mods_data"])
    cols = {"ablat": ["ablat"], "year_ablat": ["year", "ablat"], "alloc": ["alloc"]}
    for c in REF["mods"]:
        kind = "meta-regression " + ("iterative" if c["method"] in ITER else "closed-form")
        fit_groups(rma("yi", "vi", mods=cols[c["spec"]], data=data, method=c["method"], test=c["test"]),
                   c["values"], kind)
    b = REF["batch"]
    for m, ref in b["results"].items():
        f = fit_batch(np.array(b["Y"]), np.array(b["V"]), np.array(b["mask"], dtype=bool), method=m)
        add("estimate_batch tau2", f.tau2, ref["tau2"])
    for c in REF["mv"]:
        d = REF["mv_data"][c["data"]]
        meth, tst = c["id"].split("/")[1:3]
        X = np.column_stack(c["X"])
        r = rma_mv(d["yi"], d["vi"], d["study"], d["es_id"], mods=None if X.shape[1] == 1 else X[:, 1:],
                   method=meth, test=tst)
        v = c["values"]
        add("three-level sigma2", r.sigma2, v["sigma2"])
        add("three-level beta, se, CI", np.r_[r.beta, r.beta_se, r.beta_ci_low, r.beta_ci_high],
            v["beta"] + v["se"] + v["ci.lb"] + v["ci.ub"])
        ct = coef_test(r, d["study"])
        add("CR2 SE", ct.se, c["cr2"]["SE"])
        add("CR2 Satterthwaite df", ct.df, c["cr2"]["df"])
        add("CR2 p-value", ct.pvalue, c["cr2"]["p"])
    sc = REF["shared_control"]
    d = sc["data"]
    V = vcov_shared_control(d["vi"], d["study"], d["trt"], ["ctrl"] * len(d["vi"]), d["n1i"], d["n2i"])
    add("shared-control V (vcalc)", V.ravel(), np.column_stack(sc["V"]).ravel())
    print(f"{'quantity group':42}{'n values':>10}{'max abs dev':>14}{'max rel dev':>14}")
    for g, (a, r, n) in dev.items():
        print(f"{g:42}{n:>10}{a:>14.2e}{r:>14.2e}")


if __name__ == "__main__":
    main()
