"""Engine layer: effect sizes and conversions, tau^2 estimators, the fitting core, results, multilevel models, CR2 and the Bayesian model. Imports nothing above it."""
