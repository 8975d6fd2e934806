"""Review layer: the protocol's rules and one module per notebook section. Imports data, engine and diagnostics; never output."""
