"""Temporal connection settings: TLS and API keys come from settings alone (Temporal Cloud, secured clusters)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.service import TLSConfig

from workbench.config import Settings
from workers.starter import TemporalUnavailable, connect, tls_config


def test_plain_by_default_and_tls_when_asked_or_implied() -> None:
    assert tls_config(Settings()) is False
    assert tls_config(Settings(temporal_tls=True)) is True
    assert tls_config(Settings(temporal_api_key=SecretStr("k"))) is True  # Temporal Cloud keys need TLS


def test_certificates_are_read_from_their_paths(tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_bytes(f"--- {name} ---".encode())
    config = tls_config(Settings(
        temporal_tls_ca_path=tmp_path / "ca.pem", temporal_tls_cert_path=tmp_path / "client.pem",
        temporal_tls_key_path=tmp_path / "client.key", temporal_tls_server_name="temporal.internal",
    ))
    assert isinstance(config, TLSConfig)
    assert config.server_root_ca_cert == b"--- ca.pem ---"
    assert (config.client_cert, config.client_private_key) == (b"--- client.pem ---", b"--- client.key ---")
    assert config.domain == "temporal.internal"


async def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(TemporalUnavailable, match="Temporal at 127.0.0.1:1 is unreachable"):
        await connect(Settings(temporal_address="127.0.0.1:1"))
