"""Where the repository is, for tests that read its files (scripts, pyproject, resources)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
