"""A lazily connected Temporal client: the API starts (and serves stored reports) while Temporal is down."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException, status
from temporalio.client import Client

from workbench.config import Settings


class TemporalGateway:
    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        Client.connect(self._settings.temporal_address, namespace=self._settings.temporal_namespace),
                        timeout=10,
                    )
                except Exception as exc:
                    raise HTTPException(
                        status.HTTP_503_SERVICE_UNAVAILABLE,
                        f"Temporal at {self._settings.temporal_address} is unreachable: {exc}",
                    ) from exc
        return self._client

    async def healthy(self) -> bool:
        try:
            client = await self.client()
            await asyncio.wait_for(client.service_client.check_health(), timeout=5)
            return True
        except Exception:
            return False
