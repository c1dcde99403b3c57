"""FastAPI adapter: routes translate HTTP to `workbench` calls and Temporal workflow starts."""
