# Reference values for the mscreview engine, computed with R metafor and clubSandwich.
#
# Regenerate (from the repository root, where R with metafor, clubSandwich and
# jsonlite is installed, e.g. Debian r-cran-metafor r-cran-clubsandwich r-cran-jsonlite):
#
#     Rscript tests/reference/engine_reference.R
#
# It writes tests/reference/engine_reference.json: the R call of every case,
# the package versions and every value at full precision (jsonlite digits = NA,
# i.e. 15 significant digits, with doubles round-tripped by %.17g where it matters).
# The Python tests (tests/test_rma_reference.py etc.) read that file; CI does not need R.
#
# Iterative estimators are run with a tight convergence control
# (threshold = 1e-12, tol = 1e-12 for uniroot) so that both sides report the
# converged value; metafor's default threshold (1e-5) would leave differences
# of order 1e-6 that say nothing about either implementation.
# Synthetic data below are seeded random numbers for testing only.

suppressPackageStartupMessages({
  library(metafor)
  library(clubSandwich)
  library(jsonlite)
})

num <- function(x) {
  # full precision: %.17g survives the JSON round trip exactly
  x <- as.numeric(x)
  lapply(x, function(v) if (is.na(v)) NA else as.numeric(sprintf("%.17g", v)))
}
vec <- function(x) unname(as.numeric(x))

ctl <- list(threshold = 1e-12, maxiter = 10000, tol = 1e-12, tau2.max = 1e8)
methods <- c("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
tests <- c("z", "t", "knha", "adhoc")

out <- list(
  generated_by = "Rscript tests/reference/engine_reference.R",
  versions = list(
    R = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    clubSandwich = as.character(packageVersion("clubSandwich")),
    jsonlite = as.character(packageVersion("jsonlite"))
  ),
  control = ctl
)

# ---------------------------------------------------------------------------
# Effect sizes (escalc)
# ---------------------------------------------------------------------------
escalc_cases <- list()
add_escalc <- function(id, measure, args, call, ...) {
  es <- do.call(escalc, c(list(measure = measure), args, list(...)))
  escalc_cases[[length(escalc_cases) + 1]] <<- list(
    id = id, call = call, measure = measure, args = lapply(args, vec),
    options = list(...), yi = vec(es$yi), vi = vec(es$vi))
}
bcg <- dat.bcg
a2 <- list(ai = bcg$tpos, bi = bcg$tneg, ci = bcg$cpos, di = bcg$cneg)
for (m in c("RR", "OR", "RD"))
  add_escalc(paste0("bcg_", m), m, a2, sprintf('escalc("%s", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)', m))
zero <- list(ai = c(0, 2, 0, 5, 7), bi = c(10, 8, 12, 0, 13), ci = c(3, 0, 0, 4, 6), di = c(9, 12, 10, 6, 14))
for (m in c("RR", "OR", "RD")) {
  add_escalc(paste0("zero_", m), m, zero, sprintf('escalc("%s", ai, bi, ci, di) # zero cells, add=1/2 to="only0"', m))
  add_escalc(paste0("zero_all_", m), m, zero, sprintf('escalc("%s", ai, bi, ci, di, add=1/2, to="all")', m), add = 0.5, to = "all")
  add_escalc(paste0("zero_if0all_", m), m, zero, sprintf('escalc("%s", ..., to="if0all")', m), to = "if0all")
  add_escalc(paste0("zero_none_", m), m, zero, sprintf('escalc("%s", ..., add=0)', m), add = 0)
}
nd <- dat.normand1999
a3 <- list(m1i = nd$m1i, sd1i = nd$sd1i, n1i = nd$n1i, m2i = nd$m2i, sd2i = nd$sd2i, n2i = nd$n2i)
for (m in c("MD", "SMD", "SMDH", "ROM"))
  add_escalc(paste0("normand_", m), m, a3, sprintf('escalc("%s", m1i, sd1i, n1i, m2i, sd2i, n2i, data=dat.normand1999)', m))
add_escalc("normand_SMD_UB", "SMD", a3, 'escalc("SMD", ..., vtype="UB", data=dat.normand1999)', vtype = "UB")
add_escalc("normand_SMD_LS2", "SMD", a3, 'escalc("SMD", ..., vtype="LS2", data=dat.normand1999)', vtype = "LS2")
set.seed(3101)
kk <- 12
pp <- list(m1i = round(rnorm(kk, 30, 5), 2), sd1i = round(runif(kk, 4, 9), 2),
           m2i = round(rnorm(kk, 25, 5), 2), sd2i = round(runif(kk, 4, 9), 2),
           ni = sample(6:60, kk), ri = round(runif(kk, 0.1, 0.9), 2))
for (m in c("MC", "SMCC"))
  add_escalc(paste0("prepost_", m), m, pp, sprintf('escalc("%s", m1i, m2i, sd1i, sd2i, ni, ri) # seeded synthetic', m))
add_escalc("prepost_SMCR", "SMCR", pp[c("m1i", "sd1i", "m2i", "ni", "ri")], 'escalc("SMCR", m1i, m2i, sd1i, ni, ri) # seeded synthetic')
tt <- list(ti = c(2.1, -0.5, 3.3, 1.0), n1i = c(10, 25, 8, 40), n2i = c(12, 25, 9, 38))
add_escalc("smd_from_t", "SMD", tt, 'escalc("SMD", ti=ti, n1i=n1i, n2i=n2i)')
out$escalc <- escalc_cases

# ---------------------------------------------------------------------------
# Data sets for the models
# ---------------------------------------------------------------------------
ds <- list()
e <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
ds$bcg_rr <- list(yi = vec(e$yi), vi = vec(e$vi), source = 'escalc("RR", ..., data=dat.bcg)')
e <- escalc("OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
ds$bcg_or <- list(yi = vec(e$yi), vi = vec(e$vi), source = 'escalc("OR", ..., data=dat.bcg)')
e <- escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)
ds$normand_md <- list(yi = vec(e$yi), vi = vec(e$vi), source = 'escalc("MD", ..., data=dat.normand1999)')
e <- escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)
ds$normand_smd <- list(yi = vec(e$yi), vi = vec(e$vi), source = 'escalc("SMD", ..., data=dat.normand1999)')
ds$hackshaw <- list(yi = vec(dat.hackshaw1998$yi), vi = vec(dat.hackshaw1998$vi), source = "dat.hackshaw1998")
ds$kontopoulos_uni <- list(yi = vec(dat.konstantopoulos2011$yi), vi = vec(dat.konstantopoulos2011$vi),
                           source = "dat.konstantopoulos2011 (as independent)")
set.seed(20261126)
for (k in c(3, 5, 8, 16, 30)) {
  for (t2 in c(0, 0.05, 0.4)) {
    vi <- runif(k, 0.01, 0.3)
    yi <- rnorm(k, 0.3, sqrt(vi + t2))
    ds[[sprintf("random_k%d_tau%s", k, t2)]] <- list(yi = yi, vi = vi,
      source = sprintf("set.seed(20261126) sequence; vi ~ U(0.01,0.3), yi ~ N(0.3, vi + %s); k=%d", t2, k))
  }
}
ds$edge_zero_tau2 <- list(yi = c(0.10, 0.11, 0.09, 0.10, 0.105), vi = c(0.10, 0.20, 0.10, 0.30, 0.15),
                          source = "synthetic: homogeneous effects, tau2 on the zero boundary")
ds$edge_k2 <- list(yi = c(0.2, 0.9), vi = c(0.04, 0.05), source = "synthetic: k = 2")
ds$edge_k2_homog <- list(yi = c(0.2, 0.25), vi = c(0.04, 0.05), source = "synthetic: k = 2, Q < 1")
ds$edge_dominant <- list(yi = c(0.05, 0.6, 0.4, 0.8, 0.3, 0.7, 0.5), vi = c(1e-4, 0.1, 0.12, 0.09, 0.15, 0.11, 0.1),
                         source = "synthetic: one dominant study (vi 1000x smaller)")
ds$edge_wide_vi <- list(yi = c(0.1, 0.5, -0.2, 1.5, 0.8, 0.3), vi = c(1e-4, 1e-3, 0.01, 10, 100, 0.5),
                        source = "synthetic: vi spanning 6 orders of magnitude")
ds$edge_tiny_scale <- list(yi = ds$bcg_rr$yi * 1e-3, vi = ds$bcg_rr$vi * 1e-6, source = "bcg_rr yi*1e-3, vi*1e-6")
ds$edge_huge_scale <- list(yi = ds$bcg_rr$yi * 1e3, vi = ds$bcg_rr$vi * 1e6, source = "bcg_rr yi*1e3, vi*1e6")
ds$edge_bimodal <- list(yi = c(0.036365887332241997, 0.71261180157640558, 0.24013815376948092, 0.77432967400235109, 0.17590893838495703, -0.10012516587837822, 0.40146853820730333, -0.88645606989665859, -0.022406270271839168, -0.11945281157395143, -0.093053944350630191, 1.4257139933005105, -0.49646906053876888, 0.051754616175098578, 0.97328994226338206, -0.39486166642173687),
  vi = c(0.23931781600370444, 0.20440175228228902, 0.02312870325877061, 0.27437433637499381, 0.055878575843433781, 0.13883507398447945, 0.2241185746508918, 0.28208481374963895, 0.24897471761748183, 0.23574510600946305, 0.27578759215103893, 0.1927236360622204, 0.27786959111206827, 0.12426963664501528, 0.22252794962918035, 0.22282126422681642),
  source = "numpy default_rng(20261126) set 709: REML score < 0 at tau2 = 0 but an interior maximum")
out$datasets <- ds

fitvals <- function(res) {
  v <- list(beta = num(res$beta), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
            ci.lb = num(res$ci.lb), ci.ub = num(res$ci.ub), tau2 = num(res$tau2),
            se.tau2 = num(res$se.tau2), I2 = num(res$I2), H2 = num(res$H2), QE = num(res$QE),
            QEp = num(res$QEp), QM = num(res$QM), QMp = num(res$QMp), k = res$k, p = res$p,
            ddf = num(res$ddf), s2w = num(res$s2w), weights = num(weights(res)))
  v
}

rma_cases <- list()
for (id in names(ds)) {
  d <- ds[[id]]
  for (m in methods) {
    for (tst in tests) {
      res <- tryCatch(suppressWarnings(rma(d$yi, d$vi, method = m, test = tst, control = ctl)),
                      error = function(err) err)
      call <- sprintf('rma(yi, vi, method="%s", test="%s", control=list(threshold=1e-12, maxiter=10000, tol=1e-12, tau2.max=1e8))', m, tst)
      if (inherits(res, "error")) {
        rma_cases[[length(rma_cases) + 1]] <- list(id = paste(id, m, tst, sep = "/"), data = id, method = m,
                                                   test = tst, call = call, error = conditionMessage(res))
        next
      }
      v <- fitvals(res)
      pr <- predict(res)
      v$pi.lb <- num(pr$pi.lb); v$pi.ub <- num(pr$pi.ub)
      if (m != "EE" && tst == "z") {
        ci <- suppressWarnings(confint(res, control = list(tol = 1e-12)))$random
        v$confint <- list(tau2 = num(ci["tau^2", ]), I2 = num(ci["I^2(%)", ]), H2 = num(ci["H^2", ]))
      }
      rma_cases[[length(rma_cases) + 1]] <- list(id = paste(id, m, tst, sep = "/"), data = id, method = m,
                                                 test = tst, call = call, values = v)
    }
  }
}
out$rma <- rma_cases

# ---------------------------------------------------------------------------
# Moderators (meta-regression, categorical and continuous)
# ---------------------------------------------------------------------------
bcgm <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
mod_specs <- list(
  ablat = list(formula = ~ ablat, cols = c("ablat")),
  year_ablat = list(formula = ~ year + ablat, cols = c("year", "ablat")),
  alloc = list(formula = ~ factor(alloc), cols = c("alloc"))
)
mods_cases <- list()
for (sid in names(mod_specs)) {
  s <- mod_specs[[sid]]
  for (m in methods) {
    for (tst in tests) {
      res <- tryCatch(suppressWarnings(rma(yi, vi, mods = s$formula, data = bcgm, method = m, test = tst, control = ctl)),
                      error = function(err) err)
      call <- sprintf('rma(yi, vi, mods=%s, data=escalc("RR", ..., data=dat.bcg), method="%s", test="%s", control=ctl)',
                      deparse(s$formula), m, tst)
      if (inherits(res, "error")) {
        mods_cases[[length(mods_cases) + 1]] <- list(id = paste("bcg", sid, m, tst, sep = "/"), call = call, error = conditionMessage(res))
        next
      }
      v <- fitvals(res)
      if (sid == "ablat") {
        pr <- predict(res, newmods = c(10, 30, 50))
        v$predict <- list(newmods = c(10, 30, 50), pred = num(pr$pred), se = num(pr$se), ci.lb = num(pr$ci.lb),
                          ci.ub = num(pr$ci.ub), pi.lb = num(pr$pi.lb), pi.ub = num(pr$pi.ub))
      }
      if (m != "EE" && tst == "z") {
        ci <- suppressWarnings(confint(res, control = list(tol = 1e-12)))$random
        v$confint <- list(tau2 = num(ci["tau^2", ]), I2 = num(ci["I^2(%)", ]), H2 = num(ci["H^2", ]))
      }
      mods_cases[[length(mods_cases) + 1]] <- list(
        id = paste("bcg", sid, m, tst, sep = "/"), spec = sid, method = m, test = tst, call = call,
        X = unname(lapply(seq_len(ncol(res$X)), function(j) vec(res$X[, j]))),
        coef_names = rownames(res$beta), values = v)
    }
  }
}
out$mods <- mods_cases
out$mods_data <- list(yi = vec(bcgm$yi), vi = vec(bcgm$vi), ablat = vec(bcgm$ablat), year = vec(bcgm$year),
                      alloc = as.character(bcgm$alloc))

# ---------------------------------------------------------------------------
# Three-level models (rma.mv) and cluster-robust CR2 (clubSandwich)
# ---------------------------------------------------------------------------
mvvals <- function(res) {
  pr <- predict(res)
  list(beta = num(res$beta), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
       ci.lb = num(res$ci.lb), ci.ub = num(res$ci.ub), sigma2 = num(res$sigma2), QE = num(res$QE),
       QEp = num(res$QEp), QM = num(res$QM), QMp = num(res$QMp), logLik = num(logLik(res)),
       ddf = num(res$ddf), pi.lb = num(pr$pi.lb), pi.ub = num(pr$pi.ub), k = res$k)
}
crvals <- function(ct) {
  list(beta = num(ct$beta), SE = num(ct$SE), tstat = num(ct$tstat), df = num(ct$df_Satt), p = num(ct$p_Satt))
}
mvctl <- list(rel.tol = 1e-10, iter.max = 10000, eval.max = 20000)
kd <- dat.konstantopoulos2011
ad <- dat.assink2016
mv_cases <- list()
add_mv <- function(id, call, res, cluster, data_id) {
  ct <- coef_test(res, vcov = "CR2", cluster = cluster)
  mv_cases[[length(mv_cases) + 1]] <<- list(id = id, call = call, data = data_id, values = mvvals(res),
                                          X = unname(lapply(seq_len(ncol(res$X)), function(j) vec(res$X[, j]))),
                                          cr2 = crvals(ct),
                                          cr2_call = "clubSandwich::coef_test(res, vcov=\"CR2\", cluster=<study>)")
}
for (meth in c("REML", "ML")) {
  for (tst in c("z", "t")) {
    r <- rma.mv(yi, vi, random = ~ 1 | district/school, data = kd, method = meth, test = tst, control = mvctl)
    add_mv(paste("konstantopoulos", meth, tst, sep = "/"),
           sprintf('rma.mv(yi, vi, random = ~ 1 | district/school, data=dat.konstantopoulos2011, method="%s", test="%s")', meth, tst),
           r, kd$district, "konstantopoulos")
  }
}
r <- rma.mv(yi, vi, mods = ~ I(year - 1985), random = ~ 1 | district/school, data = kd, control = mvctl)
add_mv("konstantopoulos/REML/z/year", 'rma.mv(yi, vi, mods = ~ I(year-1985), random = ~ 1 | district/school, data=dat.konstantopoulos2011)',
       r, kd$district, "konstantopoulos")
r <- rma.mv(yi, vi, random = ~ 1 | study/esid, data = ad, control = mvctl)
add_mv("assink/REML/z", 'rma.mv(yi, vi, random = ~ 1 | study/esid, data=dat.assink2016)', r, ad$study, "assink")
r <- rma.mv(yi, vi, mods = ~ factor(deltype), random = ~ 1 | study/esid, data = ad, control = mvctl)
add_mv("assink/REML/z/deltype", 'rma.mv(yi, vi, mods = ~ factor(deltype), random = ~ 1 | study/esid, data=dat.assink2016)',
       r, ad$study, "assink")
out$mv <- mv_cases
out$mv_data <- list(
  konstantopoulos = list(yi = vec(kd$yi), vi = vec(kd$vi), study = vec(kd$district), es_id = vec(kd$school),
                         year = vec(kd$year)),
  assink = list(yi = vec(ad$yi), vi = vec(ad$vi), study = vec(ad$study), es_id = vec(ad$esid),
                deltype = as.character(ad$deltype)))

# CR2 on univariate models (clusters = districts)
r1 <- rma(yi, vi, data = kd, control = ctl)
r2 <- rma(yi, vi, mods = ~ I(year - 1985), data = kd, control = ctl)
out$cr2_uni <- list(
  list(id = "konstantopoulos_uni/REML", call = 'coef_test(rma(yi, vi, data=dat.konstantopoulos2011), vcov="CR2", cluster=district)',
       cr2 = crvals(coef_test(r1, vcov = "CR2", cluster = kd$district)), tau2 = num(r1$tau2)),
  list(id = "konstantopoulos_uni/REML/year", call = 'coef_test(rma(yi, vi, mods=~I(year-1985), data=dat.konstantopoulos2011), vcov="CR2", cluster=district)',
       cr2 = crvals(coef_test(r2, vcov = "CR2", cluster = kd$district)), tau2 = num(r2$tau2)))

# ---------------------------------------------------------------------------
# Shared control arm (vcalc) + three-level fit on it
# ---------------------------------------------------------------------------
mt <- data.frame(study = c(1, 1, 1, 2, 2, 3, 4, 4),
                 trt = c("a", "b", "c", "a", "b", "a", "a", "b"),
                 m1i = c(12.1, 13.4, 11.0, 20.5, 22.1, 8.2, 15.0, 16.2),
                 sd1i = c(3.1, 3.5, 2.9, 5.2, 4.8, 2.0, 4.1, 3.8),
                 n1i = c(10, 12, 9, 15, 14, 8, 20, 18),
                 m2i = c(10.0, 10.0, 10.0, 18.0, 18.0, 7.5, 13.1, 13.1),
                 sd2i = c(3.0, 3.0, 3.0, 5.0, 5.0, 2.2, 4.0, 4.0),
                 n2i = c(11, 11, 11, 16, 16, 9, 19, 19))
mt$esid <- seq_len(nrow(mt))
mt <- escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = mt)
mt$ctrl <- "ctrl"
V <- vcalc(vi, cluster = study, grp1 = trt, grp2 = ctrl, w1 = n1i, w2 = n2i, data = mt)
rv <- rma.mv(yi, V, random = ~ 1 | study/esid, data = mt, control = mvctl)
out$shared_control <- list(
  call = 'vcalc(vi, cluster=study, grp1=trt, grp2=ctrl, w1=n1i, w2=n2i, data=escalc("SMD", ...)); rma.mv(yi, V, random=~1|study/esid)',
  data = list(study = vec(mt$study), trt = mt$trt, n1i = vec(mt$n1i), n2i = vec(mt$n2i), yi = vec(mt$yi), vi = vec(mt$vi)),
  V = unname(lapply(seq_len(ncol(V)), function(j) num(V[, j]))),
  fit = mvvals(rv))

# ---------------------------------------------------------------------------
# Batch: many seeded random data sets, for estimate_batch (masks: unequal k)
# ---------------------------------------------------------------------------
set.seed(777)
nb <- 150
kb <- 10
BY <- matrix(NA_real_, nb, kb); BV <- matrix(NA_real_, nb, kb); BM <- matrix(TRUE, nb, kb)
for (i in seq_len(nb)) {
  BV[i, ] <- runif(kb, 0.005, 0.5)
  BY[i, ] <- rnorm(kb, 0, sqrt(BV[i, ] + runif(1, 0, 0.4)))
  kk <- sample(2:kb, 1)
  BM[i, ] <- seq_len(kb) <= kk
}
bres <- list()
for (m in c("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")) {
  t2 <- est <- se <- rep(NA_real_, nb)
  for (i in seq_len(nb)) {
    use <- BM[i, ]
    f <- rma(BY[i, use], BV[i, use], method = m, control = ctl)
    t2[i] <- f$tau2; est[i] <- f$beta[1]; se[i] <- f$se
  }
  bres[[m]] <- list(tau2 = num(t2), estimate = num(est), se = num(se))
}
out$batch <- list(call = "for each row i: rma(Y[i, mask[i, ]], V[i, mask[i, ]], method = m, control = ctl)",
                  Y = lapply(seq_len(nb), function(i) num(BY[i, ])), V = lapply(seq_len(nb), function(i) num(BV[i, ])),
                  mask = lapply(seq_len(nb), function(i) BM[i, ]), results = bres)

write_json(out, "tests/reference/engine_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE,
           na = "null", null = "null")
cat("wrote tests/reference/engine_reference.json:",
    length(out$escalc), "escalc,", length(out$rma), "rma,", length(out$mods), "mods,",
    length(out$mv), "mv cases\n")
