#!/usr/bin/env Rscript
# Reference values for the diagnostics (issue 4): regtest, ranktest, trimfill, leave1out,
# influence, cumul, gosh (all subsets, small k) and exact permutest, computed by R metafor.
# Writes tests/reference/diag_reference.json (every number at 17 significant digits).
# Run from the repository root:  Rscript tests/reference/diag_reference.R
# Synthetic data sets here are seeded random draws, labelled "random_*"; they are test data only.
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })

cases <- list()
add <- function(id, fn, call, data, result) {
  cases[[length(cases) + 1]] <<- list(id = id, fn = fn, call = call, data = data, result = result)
}
num <- function(x) unname(as.numeric(x))
# tight control so iterative estimators are compared at their converged values
ctrl <- list(threshold = 1e-12, maxiter = 1000, tol = 1e-12)

# ---- data sets --------------------------------------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg$ni <- with(dat.bcg, tpos + tneg + cpos + cneg)
hack <- dat.hackshaw1998
mol <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
nor <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = dat.normand1999)
nor$ni <- nor$n1i + nor$n2i
pag <- escalc(measure = "PLO", xi = xi, ni = ni, data = subset(dat.pagliaro1992, trt == "control"))
rnd <- function(k, seed, tau = 0.3, asym = 0) {
  set.seed(seed)
  ni <- sample(20:200, k, replace = TRUE)
  vi <- 4 / ni + runif(k, 0, 0.01)
  yi <- rnorm(k, 0.4, sqrt(vi + tau^2)) + asym * sqrt(vi)
  data.frame(yi = yi, vi = vi, ni = ni, x1 = round(rnorm(k), 3), g = rep(0:1, length.out = k))
}
sets <- list(
  bcg = bcg, hackshaw1998 = hack, molloy2014 = mol, normand1999 = nor, pagliaro1992 = pag,
  random_k6 = rnd(6, 11), random_k7 = rnd(7, 12, tau = 0), random_k8 = rnd(8, 13),
  random_k12_asym = rnd(12, 14, tau = 0.1, asym = 2.5), random_k20 = rnd(20, 15, tau = 0.2, asym = 1.5)
)
dat_of <- function(d) {
  out <- list(yi = num(d$yi), vi = num(d$vi))
  if (!is.null(d$ni)) out$ni <- num(d$ni)
  if (!is.null(d$year)) out$year <- num(d$year)
  if (!is.null(d$ablat)) out$ablat <- num(d$ablat)
  if (!is.null(d$x1)) out$x1 <- num(d$x1)
  if (!is.null(d$g)) out$g <- num(d$g)
  out
}

# ---- regtest ----------------------------------------------------------------------------------
for (nm in c("bcg", "molloy2014", "pagliaro1992", "random_k12_asym", "hackshaw1998")) {
  d <- sets[[nm]]
  preds <- if (is.null(d$ni)) c("sei", "vi") else c("sei", "vi", "ni", "ninv")
  for (method in c("REML", "DL", "FE", "ML", "PM", "HE", "EB", "SJ", "HS")) for (test in c("z", "knha")) for (model in c("rma", "lm")) for (pr in preds) {
    if (model == "lm" && (method != "REML" || test != "z")) next
    if (method == "FE" && test == "knha") next
    # the other estimators once each (bcg, test z, model rma) to cover the meta-regression fitter
    if (!(method %in% c("REML", "DL", "FE")) && (nm != "bcg" || test != "z" || model != "rma")) next
    fit <- rma(yi, vi, data = d, method = method, test = test, control = ctrl)
    r <- if (is.null(d$ni)) regtest(fit, model = model, predictor = pr) else regtest(fit, model = model, predictor = pr, ni = d$ni)
    add(paste("regtest", nm, method, test, model, pr, sep = "_"), "regtest",
        sprintf("regtest(rma(yi, vi, method='%s', test='%s'), model='%s', predictor='%s'%s)", method, test, model, pr,
                if (is.null(d$ni)) "" else ", ni=ni"),
        c(dat_of(d), list(method = method, test = test, model = model, predictor = pr)),
        list(statistic = num(r$zval), pvalue = num(r$pval), df = num(r$dfs),
             est = if (is.null(r$est)) NULL else num(r$est),
             ci_low = if (is.null(r$ci.lb)) NULL else num(r$ci.lb),
             ci_high = if (is.null(r$ci.ub)) NULL else num(r$ci.ub),
             slope = num(coef(r$fit))[2], tau2 = if (model == "rma") num(r$fit$tau2) else NULL))
  }
}

# ---- ranktest ---------------------------------------------------------------------------------
ties <- data.frame(yi = c(0.1, 0.5, 0.3, 0.9, 0.2, 0.7, 0.4, 0.6), vi = c(0.04, 0.04, 0.09, 0.09, 0.01, 0.16, 0.04, 0.25))
sets$ties_k8 <- ties
for (nm in c("bcg", "hackshaw1998", "molloy2014", "pagliaro1992", "random_k12_asym", "ties_k8", "random_k20")) {
  d <- sets[[nm]]
  for (exact in c(TRUE, FALSE)) {
    r <- suppressWarnings(ranktest(d$yi, d$vi, exact = exact))
    add(paste("ranktest", nm, exact, sep = "_"), "ranktest",
        sprintf("ranktest(yi, vi, exact=%s)", exact), c(dat_of(d), list(exact = exact)),
        list(statistic = num(r$tau), pvalue = num(r$pval)))
  }
}

# ---- trimfill ---------------------------------------------------------------------------------
for (nm in c("bcg", "hackshaw1998", "molloy2014", "random_k12_asym", "random_k20", "normand1999")) {
  d <- sets[[nm]]
  for (method in c("REML", "FE", "DL")) for (est in c("L0", "R0")) for (side in c("auto", "left", "right")) {
    fit <- rma(yi, vi, data = d, method = method, control = ctrl)
    tf <- if (side == "auto") trimfill(fit, estimator = est, control = ctrl) else trimfill(fit, estimator = est, side = side, control = ctrl)
    add(paste("trimfill", nm, method, est, side, sep = "_"), "trimfill",
        sprintf("trimfill(rma(yi, vi, method='%s'), estimator='%s'%s)", method, est,
                if (side == "auto") "" else sprintf(", side='%s'", side)),
        c(dat_of(d), list(method = method, estimator = est, side = side)),
        list(k0 = num(tf$k0), se_k0 = num(tf$se.k0), side = tf$side, p_k0 = num(tf$p.k0),
             estimate = num(tf$beta), se = num(tf$se), tau2 = num(tf$tau2), k = num(tf$k),
             ci_low = num(tf$ci.lb), ci_high = num(tf$ci.ub),
             yi_filled = num(tf$yi[tf$fill]), vi_filled = num(tf$vi[tf$fill])))
  }
}

# ---- leave1out, influence, cumul --------------------------------------------------------------
for (nm in c("bcg", "normand1999", "random_k8", "random_k6", "molloy2014")) {
  d <- sets[[nm]]
  for (method in c("REML", "DL", "FE", "ML", "HE", "PM", "EB", "HS")) for (test in c("z", "knha")) {
    if (method %in% c("FE") && test == "knha") next
    if (!(method %in% c("REML", "DL", "FE")) && (test == "knha" || nm != "bcg")) next
    fit <- rma(yi, vi, data = d, method = method, test = test, control = ctrl)
    l1 <- leave1out(fit)
    add(paste("leave1out", nm, method, test, sep = "_"), "leave1out",
        sprintf("leave1out(rma(yi, vi, method='%s', test='%s'))", method, test),
        c(dat_of(d), list(method = method, test = test)),
        list(estimate = num(l1$estimate), se = num(l1$se), statistic = num(l1[[3]]), pvalue = num(l1$pval),
             ci_low = num(l1$ci.lb), ci_high = num(l1$ci.ub), q = num(l1$Q), q_pvalue = num(l1$Qp),
             tau2 = if (is.null(l1$tau2)) rep(0, length(l1$estimate)) else num(l1$tau2), i2 = num(l1$I2), h2 = num(l1$H2)))
    inf <- influence(fit)
    add(paste("influence", nm, method, test, sep = "_"), "influence",
        sprintf("influence(rma(yi, vi, method='%s', test='%s'))", method, test),
        c(dat_of(d), list(method = method, test = test)),
        list(rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits), cook_d = num(inf$inf$cook.d),
             cov_r = num(inf$inf$cov.r), tau2_del = num(inf$inf$tau2.del), qe_del = num(inf$inf$QE.del),
             hat = num(inf$inf$hat), weight = num(inf$inf$weight), dfbetas = num(inf$dfbs[[1]]),
             inf = as.logical(inf$is.infl)))
    ord <- if (!is.null(d$year)) d$year else seq_along(d$yi)
    cu <- cumul(fit, order = ord)
    add(paste("cumul", nm, method, test, sep = "_"), "cumul",
        sprintf("cumul(rma(yi, vi, method='%s', test='%s'), order=%s)", method, test, if (!is.null(d$year)) "year" else "1:k"),
        c(dat_of(d), list(method = method, test = test, order = num(ord))),
        list(estimate = num(cu$estimate), se = num(cu$se), statistic = num(cu[[3]]), pvalue = num(cu$pval),
             ci_low = num(cu$ci.lb), ci_high = num(cu$ci.ub), q = num(cu$Q), q_pvalue = num(cu$Qp),
             tau2 = if (is.null(cu$tau2)) rep(0, length(cu$estimate)) else num(cu$tau2), i2 = num(cu$I2), h2 = num(cu$H2)))
  }
}
# influence with a moderator (meta-regression); every tau2 estimator with test z
for (method in c("REML", "DL", "ML", "PM", "HE", "EB", "SJ", "HS")) for (test in c("z", "knha")) {
  if (!(method %in% c("REML", "DL")) && test == "knha") next
  fit <- rma(yi, vi, mods = ~ ablat, data = bcg, method = method, test = test, control = ctrl)
  inf <- influence(fit)
  add(paste("influence_mods", "bcg", method, test, sep = "_"), "influence",
      sprintf("influence(rma(yi, vi, mods=~ablat, method='%s', test='%s'))", method, test),
      c(dat_of(bcg), list(method = method, test = test, mods = "ablat")),
      list(rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits), cook_d = num(inf$inf$cook.d),
           cov_r = num(inf$inf$cov.r), tau2_del = num(inf$inf$tau2.del), qe_del = num(inf$inf$QE.del),
           hat = num(inf$inf$hat), weight = num(inf$inf$weight),
           dfbetas = lapply(unclass(inf$dfbs)[1:2], num), inf = as.logical(inf$is.infl)))
}

# ---- gosh (all subsets) -----------------------------------------------------------------------
for (nm in c("random_k6", "random_k7", "random_k8", "normand1999")) {
  d <- sets[[nm]]
  for (method in c("REML", "DL", "FE", "ML", "PM")) {
    if (method %in% c("ML", "PM") && nm != "random_k8") next
    fit <- rma(yi, vi, data = d, method = method, control = ctrl)
    g <- gosh(fit, progbar = FALSE)
    add(paste("gosh", nm, method, sep = "_"), "gosh",
        sprintf("gosh(rma(yi, vi, method='%s'))", method), c(dat_of(d), list(method = method)),
        list(k = num(g$res$k), q = num(g$res$QE), i2 = num(g$res$I2), h2 = num(g$res$H2),
             tau2 = num(g$res$tau2), estimate = num(g$res$estimate),
             incl = unname(apply(g$incl, 1, function(r) paste(as.integer(r), collapse = "")))))
  }
}

# ---- exact permutest --------------------------------------------------------------------------
for (nm in c("random_k8", "random_k6", "normand1999")) {
  d <- sets[[nm]]
  for (method in c("REML", "DL")) for (test in c("z", "knha")) {
    fit <- rma(yi, vi, data = d, method = method, test = test, control = ctrl)
    pt <- permutest(fit, exact = TRUE, progbar = FALSE)
    add(paste("permutest_int", nm, method, test, sep = "_"), "permutest",
        sprintf("permutest(rma(yi, vi, method='%s', test='%s'), exact=TRUE)", method, test),
        c(dat_of(d), list(method = method, test = test)),
        list(pvalue = num(pt$pval), qm_pvalue = num(pt$QMp), n_perm = NROW(pt$zval.perm), n_failed = sum(is.na(as.matrix(pt$zval.perm)[, 1])), exact = TRUE,
             statistic = num(fit$zval), qm = num(fit$QM)))
  }
}
for (nm in c("random_k8", "random_k7")) {
  d <- sets[[nm]]
  for (mod in c("g", "x1")) for (method in c("REML", "DL")) for (test in c("z", "knha")) {
    if (mod == "x1" && nm == "random_k8") next
    fit <- rma(yi, vi, mods = d[[mod]], data = d, method = method, test = test, control = ctrl)
    pt <- permutest(fit, exact = TRUE, progbar = FALSE)
    add(paste("permutest_mods", nm, mod, method, test, sep = "_"), "permutest",
        sprintf("permutest(rma(yi, vi, mods=~%s, method='%s', test='%s'), exact=TRUE)", mod, method, test),
        c(dat_of(d), list(method = method, test = test, mods = mod)),
        list(pvalue = num(pt$pval), qm_pvalue = num(pt$QMp), n_perm = nrow(pt$zval.perm), n_failed = sum(is.na(pt$zval.perm[, 1])), exact = TRUE,
             statistic = num(fit$zval), qm = num(fit$QM)))
  }
}

# categorical moderator with three levels and heterogeneity: 13!/(7! 2! 4!) = 25740 permutations
bcg$alloc_random <- as.numeric(dat.bcg$alloc == "random")
bcg$alloc_systematic <- as.numeric(dat.bcg$alloc == "systematic")
fit <- rma(yi, vi, mods = ~ alloc_random + alloc_systematic, data = bcg, method = "REML", control = ctrl)
pt <- permutest(fit, exact = TRUE, progbar = FALSE)
add("permutest_mods_bcg_alloc_REML_z", "permutest",
    "permutest(rma(yi, vi, mods=~factor(alloc), method='REML'), exact=TRUE)",
    c(dat_of(bcg), list(method = "REML", test = "z", mods = c("alloc_random", "alloc_systematic"),
                        alloc_random = bcg$alloc_random, alloc_systematic = bcg$alloc_systematic)),
    list(pvalue = num(pt$pval), qm_pvalue = num(pt$QMp), n_perm = NROW(pt$zval.perm), n_failed = sum(is.na(as.matrix(pt$zval.perm)[, 1])), exact = TRUE,
         statistic = num(fit$zval), qm = num(fit$QM)))

out <- list(
  generator = "tests/reference/diag_reference.R",
  R_version = R.version.string,
  packages = list(metafor = as.character(packageVersion("metafor")), jsonlite = as.character(packageVersion("jsonlite"))),
  control = ctrl,
  note = "rma() fits use control=list(threshold=1e-12, maxiter=1000, tol=1e-12) so iterative estimators are converged; random_* and ties_k8 are synthetic test data.",
  cases = cases)
# jsonlite prints at most 15 significant digits; write numbers verbatim with %.17g instead
j17 <- function(x) {
  if (is.list(x)) return(lapply(x, j17))
  if (is.numeric(x)) {
    s <- ifelse(is.na(x), "null", ifelse(is.infinite(x), "null", sprintf("%.17g", x)))
    s <- if (length(x) == 1L) s else paste0("[", paste(s, collapse = ","), "]")
    return(structure(s, class = "json"))
  }
  x
}
writeLines(toJSON(j17(out), auto_unbox = TRUE, null = "null", na = "null", pretty = FALSE, json_verbatim = TRUE),
           "tests/reference/diag_reference.json")
cat("wrote", length(cases), "cases\n")
