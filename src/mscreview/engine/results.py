"""Frozen result types of the engine.

Field names are the column names of ``to_frame()`` and use one vocabulary
(metafor's model names, scipy's result names): ``estimate, se, statistic,
pvalue, ci_low, ci_high, pi_low, pi_high, tau2, i2`` (percent, as metafor),
``h2, q, q_df, q_pvalue, k, method, test``.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["RMAResult", "HeterogeneityCI", "MVResult", "RobustResult", "BatchFit"]

SUMMARY_FIELDS = ("k", "method", "test", "estimate", "se", "statistic", "df", "pvalue", "ci_low",
                  "ci_high", "pi_low", "pi_high", "tau2", "se_tau2", "tau", "i2", "h2", "q",
                  "q_df", "q_pvalue", "qm", "qm_df", "qm_pvalue", "confidence_level")


def _fmt(x, digits=4):
    if x is None:
        return "NA"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, float) and math.isnan(x):
        return "NA"
    return f"{x:.{digits}f}"


def _fmt_p(p):
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


@dataclass(frozen=True)
class HeterogeneityCI:
    """Q-profile confidence intervals for tau^2, tau, I^2 (%) and H^2 (metafor's ``confint``)."""

    tau2: float
    tau2_ci_low: float
    tau2_ci_high: float
    tau: float
    tau_ci_low: float
    tau_ci_high: float
    i2: float
    i2_ci_low: float
    i2_ci_high: float
    h2: float
    h2_ci_low: float
    h2_ci_high: float
    confidence_level: float
    method: str = "QP"

    def to_frame(self):
        import pandas as pd
        rows = []
        for name in ("tau2", "tau", "i2", "h2"):
            rows.append({"parameter": name, "estimate": getattr(self, name),
                         "ci_low": getattr(self, f"{name}_ci_low"),
                         "ci_high": getattr(self, f"{name}_ci_high")})
        return pd.DataFrame(rows)

    def __repr__(self):
        lvl = f"{100 * self.confidence_level:g}%"
        lines = [f"Q-profile {lvl} confidence intervals", f"{'':8}{'estimate':>10}{'ci_low':>10}{'ci_high':>10}"]
        for name in ("tau2", "tau", "i2", "h2"):
            lines.append(f"{name:8}{_fmt(getattr(self, name)):>10}{_fmt(getattr(self, name + '_ci_low')):>10}"
                         f"{_fmt(getattr(self, name + '_ci_high')):>10}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RMAResult:
    """A fitted random- (or equal-) effects model, as metafor's ``rma.uni`` object.

    The scalar ``estimate, se, statistic, pvalue, ci_low, ci_high`` refer to
    the first coefficient (the pooled effect in an intercept-only model, the
    intercept in a meta-regression); per-coefficient vectors are ``beta``,
    ``beta_se``, ``beta_statistic``, ``beta_pvalue``, ``beta_ci_low``,
    ``beta_ci_high`` with names ``coef_names``.  ``pi_low``/``pi_high`` is
    the prediction interval of an intercept-only model (NaN for a
    meta-regression; use :meth:`predict`).  ``weights`` are in percent
    (metafor's ``weights()``).  ``df`` is NaN for ``test="z"``.
    """

    k: int
    p: int
    method: str
    test: str
    confidence_level: float
    estimate: float
    se: float
    statistic: float
    df: float
    pvalue: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    tau2: float
    se_tau2: float
    tau: float
    i2: float
    h2: float
    q: float
    q_df: int
    q_pvalue: float
    qm: float
    qm_df: tuple
    qm_pvalue: float
    beta: np.ndarray = field(repr=False)
    beta_se: np.ndarray = field(repr=False)
    beta_statistic: np.ndarray = field(repr=False)
    beta_pvalue: np.ndarray = field(repr=False)
    beta_ci_low: np.ndarray = field(repr=False)
    beta_ci_high: np.ndarray = field(repr=False)
    coef_names: tuple = field(repr=False)
    vb: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    s2w: float = field(repr=False)
    vt: float = field(repr=False)
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)
    iterations: int = field(repr=False, default=0)

    # -- derived, computed lazily -------------------------------------------------

    def confint(self, confidence_level=None) -> HeterogeneityCI:
        """Q-profile CIs for tau^2, tau, I^2 and H^2 (metafor ``confint.rma.uni``, type "QP")."""
        from .inference import qprofile
        lvl = self.confidence_level if confidence_level is None else confidence_level
        b = qprofile(self, lvl)
        vt = self.vt
        lo, hi = b["tau2_ci_low"], b["tau2_ci_high"]
        return HeterogeneityCI(
            tau2=self.tau2, tau2_ci_low=lo, tau2_ci_high=hi, tau=self.tau, tau_ci_low=math.sqrt(lo),
            tau_ci_high=math.sqrt(hi), i2=self.i2, i2_ci_low=100 * lo / (vt + lo),
            i2_ci_high=100 * hi / (vt + hi), h2=self.h2, h2_ci_low=lo / vt + 1, h2_ci_high=hi / vt + 1,
            confidence_level=lvl)

    @cached_property
    def heterogeneity_ci(self) -> HeterogeneityCI:
        """Q-profile CIs at the model's confidence level (computed once, on first access)."""
        return self.confint()

    def predict(self, newmods=None, confidence_level=None):
        """Predicted mean, CI and prediction interval (metafor ``predict.rma``).

        ``newmods`` is an array of moderator values without the intercept,
        shape (n, p-1) or (p-1,); default the intercept-only prediction.
        Returns a DataFrame with ``pred, se, ci_low, ci_high, pi_low, pi_high``.
        """
        from .inference import predict
        return predict(self, newmods, self.confidence_level if confidence_level is None
                       else confidence_level)

    def coef_frame(self):
        """One row per model coefficient (metafor's coefficient table)."""
        import pandas as pd
        return pd.DataFrame({"term": list(self.coef_names), "estimate": self.beta,
                             "se": self.beta_se, "statistic": self.beta_statistic,
                             "df": self.df, "pvalue": self.beta_pvalue,
                             "ci_low": self.beta_ci_low, "ci_high": self.beta_ci_high})

    def to_frame(self):
        """One-row DataFrame of the summary fields (column names = field names)."""
        import pandas as pd
        row = {f: getattr(self, f) for f in SUMMARY_FIELDS}
        row["qm_df"] = str(row["qm_df"])
        return pd.DataFrame([row])

    def to_dict(self):
        """Summary fields as plain Python values (JSON-ready)."""
        out = {}
        for f in SUMMARY_FIELDS:
            v = getattr(self, f)
            if isinstance(v, (np.floating, float)):
                v = None if math.isnan(v) else float(v)
            elif isinstance(v, np.integer):
                v = int(v)
            elif isinstance(v, tuple):
                v = [None if (isinstance(x, float) and math.isnan(x)) else x for x in v]
            out[f] = v
        return out

    # -- display ---------------------------------------------------------------

    def _label(self):
        kind = "Equal-effects" if self.method in ("EE", "FE") else "Random-effects"
        if self.p > 1:
            kind = "Mixed-effects" if self.method not in ("EE", "FE") else "Equal-effects with moderators"
        return f"{kind} model (k = {self.k}; tau^2 estimator: {self.method}; test: {self.test})"

    def __repr__(self):
        lvl = f"{100 * self.confidence_level:g}%"
        lines = [self._label(), ""]
        if self.method not in ("EE", "FE"):
            lines.append(f"tau^2 = {_fmt(self.tau2)} (SE = {_fmt(self.se_tau2)}), tau = {_fmt(self.tau)}")
        lines.append(f"I^2 = {self.i2:.2f}%, H^2 = {_fmt(self.h2)}")
        lines.append(f"Q({self.q_df}) = {_fmt(self.q)}, p = {_fmt_p(self.q_pvalue)}")
        if self.p > 1:
            if self.test == "z":
                lines.append(f"QM({self.qm_df[0]}) = {_fmt(self.qm)}, p = {_fmt_p(self.qm_pvalue)}")
            else:
                lines.append(f"F({self.qm_df[0]}, {self.qm_df[1]}) = {_fmt(self.qm)}, "
                             f"p = {_fmt_p(self.qm_pvalue)}")
        lines.append("")
        stat = "z" if self.test == "z" else "t"
        wn = max(12, max(len(n) for n in self.coef_names) + 2)
        head = f"{'':{wn}}{'estimate':>10}{'se':>9}{stat:>9}{'pvalue':>9}{'ci_low':>10}{'ci_high':>10}"
        lines.append(head)
        for i, name in enumerate(self.coef_names):
            lines.append(f"{name:{wn}}{_fmt(self.beta[i]):>10}{_fmt(self.beta_se[i]):>9}"
                         f"{_fmt(self.beta_statistic[i], 3):>9}{_fmt_p(self.beta_pvalue[i]):>9}"
                         f"{_fmt(self.beta_ci_low[i]):>10}{_fmt(self.beta_ci_high[i]):>10}")
        if self.p == 1:
            lines.append(f"{lvl} prediction interval: [{_fmt(self.pi_low)}, {_fmt(self.pi_high)}]")
        if self.test != "z":
            lines.append(f"(t tests with df = {_fmt(self.df, 0)})")
        return "\n".join(lines)

    def _repr_html_(self):
        lvl = f"{100 * self.confidence_level:g}%"
        stat = "z" if self.test == "z" else "t"
        rows = "".join(
            f"<tr><td>{html.escape(str(n))}</td><td>{_fmt(self.beta[i])}</td><td>{_fmt(self.beta_se[i])}</td>"
            f"<td>{_fmt(self.beta_statistic[i], 3)}</td><td>{_fmt_p(self.beta_pvalue[i])}</td>"
            f"<td>{_fmt(self.beta_ci_low[i])}</td><td>{_fmt(self.beta_ci_high[i])}</td></tr>"
            for i, n in enumerate(self.coef_names))
        het = (f"tau<sup>2</sup> = {_fmt(self.tau2)} (SE {_fmt(self.se_tau2)}); "
               f"I<sup>2</sup> = {self.i2:.2f}%; H<sup>2</sup> = {_fmt(self.h2)}; "
               f"Q({self.q_df}) = {_fmt(self.q)}, p = {_fmt_p(self.q_pvalue)}")
        pi = (f"<p>{lvl} prediction interval: [{_fmt(self.pi_low)}, {_fmt(self.pi_high)}]</p>"
              if self.p == 1 else
              f"<p>Omnibus test of moderators: {_fmt(self.qm)} on {self.qm_df}, p = {_fmt_p(self.qm_pvalue)}</p>")
        return (f"<div><p><b>{html.escape(self._label())}</b></p><p>{het}</p>"
                f"<table><thead><tr><th></th><th>estimate</th><th>se</th><th>{stat}</th>"
                f"<th>pvalue</th><th>ci_low</th><th>ci_high</th></tr></thead><tbody>{rows}</tbody></table>"
                f"{pi}</div>")


@dataclass(frozen=True)
class MVResult:
    """A three-level model (metafor ``rma.mv(yi, vi, random = ~ 1 | study/es_id)``).

    ``sigma2`` holds the two variance components (between studies, within
    studies); ``beta``-vectors as in :class:`RMAResult`.
    """

    k: int
    n_studies: int
    method: str
    test: str
    confidence_level: float
    estimate: float
    se: float
    statistic: float
    df: float
    pvalue: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    sigma2: tuple
    q: float
    q_df: int
    q_pvalue: float
    qm: float
    qm_df: tuple
    qm_pvalue: float
    loglik: float
    beta: np.ndarray = field(repr=False)
    beta_se: np.ndarray = field(repr=False)
    beta_statistic: np.ndarray = field(repr=False)
    beta_pvalue: np.ndarray = field(repr=False)
    beta_ci_low: np.ndarray = field(repr=False)
    beta_ci_high: np.ndarray = field(repr=False)
    coef_names: tuple = field(repr=False)
    vb: np.ndarray = field(repr=False)
    yi: np.ndarray = field(repr=False)
    V: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)
    study: np.ndarray = field(repr=False)
    M: np.ndarray = field(repr=False)

    def to_frame(self):
        import pandas as pd
        row = {f: getattr(self, f) for f in ("k", "n_studies", "method", "test", "estimate", "se",
                                             "statistic", "df", "pvalue", "ci_low", "ci_high",
                                             "pi_low", "pi_high", "q", "q_df", "q_pvalue",
                                             "qm", "qm_pvalue", "loglik", "confidence_level")}
        row["sigma2_study"], row["sigma2_within"] = self.sigma2
        return pd.DataFrame([row])

    def __repr__(self):
        s1, s2 = self.sigma2
        return (f"Three-level model (k = {self.k} effects in {self.n_studies} studies; {self.method}; "
                f"test: {self.test})\n"
                f"sigma^2 (between studies) = {_fmt(s1)}, sigma^2 (within studies) = {_fmt(s2)}\n"
                f"Q({self.q_df}) = {_fmt(self.q)}, p = {_fmt_p(self.q_pvalue)}\n"
                f"estimate = {_fmt(self.estimate)} (SE {_fmt(self.se)}), p = {_fmt_p(self.pvalue)}, "
                f"CI [{_fmt(self.ci_low)}, {_fmt(self.ci_high)}], PI [{_fmt(self.pi_low)}, "
                f"{_fmt(self.pi_high)}]")

    def _repr_html_(self):
        return "<pre>" + html.escape(repr(self)) + "</pre>"


@dataclass(frozen=True)
class RobustResult:
    """Cluster-robust (CR2) tests of model coefficients (clubSandwich ``coef_test``)."""

    coef_names: tuple
    beta: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    df: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    vcov: np.ndarray
    n_clusters: int
    confidence_level: float
    type: str = "CR2"

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame({"term": list(self.coef_names), "estimate": self.beta, "se": self.se,
                             "statistic": self.statistic, "df": self.df, "pvalue": self.pvalue,
                             "ci_low": self.ci_low, "ci_high": self.ci_high})

    def __repr__(self):
        return (f"Cluster-robust ({self.type}, Satterthwaite df) tests; {self.n_clusters} clusters\n"
                + self.to_frame().to_string(index=False))

    def _repr_html_(self):
        return self.to_frame()._repr_html_()


@dataclass(frozen=True)
class BatchFit:
    """Random-effects models (meta-regressions) fitted to many data sets at once.

    Arrays with one row per fit.  The columns of :meth:`to_frame` (:data:`COLUMNS`) follow
    :class:`mscreview.engine.results.RMAResult` and describe the first coefficient (the pooled
    effect without moderators; ``i2`` in percent; ``pi_low``/``pi_high`` NaN with
    moderators); ``beta*`` (n, p) and ``vb`` (n, p, p) hold every coefficient.  Fields are
    also available by name, ``fit["tau2"]``, as R's ``fit$tau2``.
    """

    k: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    tau2: np.ndarray
    q: np.ndarray
    q_pvalue: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    method: str
    test: str
    df: np.ndarray
    beta: np.ndarray
    beta_se: np.ndarray
    beta_statistic: np.ndarray
    beta_pvalue: np.ndarray
    beta_ci_low: np.ndarray
    beta_ci_high: np.ndarray
    vb: np.ndarray
    qm: np.ndarray
    qm_pvalue: np.ndarray
    s2w: np.ndarray
    vt: np.ndarray
    weights: np.ndarray
    converged: np.ndarray

    COLUMNS = ("k", "estimate", "se", "statistic", "pvalue", "ci_low", "ci_high", "pi_low",
               "pi_high", "tau2", "q", "q_pvalue", "i2", "h2")

    def __getitem__(self, name):
        return getattr(self, name)

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame({f: getattr(self, f) for f in self.COLUMNS})
