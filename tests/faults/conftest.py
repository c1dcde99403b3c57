"""Fault tests reuse the whole-stack fixture of the end-to-end tests."""

from tests.e2e.conftest import start_stack  # noqa: F401 - a fixture, used by name
