"""Data layer: the data dictionary, loading tables with types, validation, agreement, the staging merge, data documentation and PRISMA counts. Imports nothing of the package but paths."""
