"""Repository-relative locations, nothing else."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
REVIEW = ROOT / "review"
FIGURES = ROOT / "figures"
NOTEBOOKS = ROOT / "notebooks"
TABLES_OUT = REVIEW / "tables"
