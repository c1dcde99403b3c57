"""Temporal adapters: the report workflow, its activities and the worker process."""
