"""Fake external services for tests: real servers on loopback, never the internet."""

from tests.fakes.openai_server import FakeOpenAI

__all__ = ["FakeOpenAI"]
