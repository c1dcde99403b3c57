"""The `workbench` command: the embedded stack, a worker, the API, imports and report runs."""
