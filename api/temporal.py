"""A lazily connected Temporal client: the API starts (and serves stored reports) while Temporal is down."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from workbench.config import Settings
from workers.starter import connect


class TemporalGateway:
    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        """The shared client, connected on first use; raises `TemporalUnavailable` while Temporal is down."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await connect(self._settings)
        return self._client

    async def healthy(self) -> bool:
        try:
            client = await self.client()
            await asyncio.wait_for(client.service_client.check_health(), timeout=5)
            return True
        except Exception:
            return False
