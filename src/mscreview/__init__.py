"""mscreview: the engine, validation, plots and export of the MSC-for-CP review."""
__version__ = "0.1.0"
