"""Diagnostics layer: small-study bias, leave-one-out and influence, GOSH and permutation tests. Imports the engine."""
