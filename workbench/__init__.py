"""Workbench core: surveys, notebooks, results, rendering and storage.

This package imports neither Temporal nor FastAPI; workers/ and api/ adapt it to those.
"""

__version__ = "0.1.0"
