"""Output layer: plots, figure style and export, tables, the cited-number store and the manuscript. Imports data registries and engine result types only."""
