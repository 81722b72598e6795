"""What a processor does for its operators (tandemq/inspector, the CLI, the dashboard): it
skips paused queues (pauses.py), counts processed and failed attempts (counts.py) and keeps a
heartbeat record of itself (presence.py). Grouped here so the Processor wires one part."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from tandemq.common.broker import Broker
from tandemq.common.logging import get_logger
from tandemq.common.settings import Settings

from .counts import Counts
from .leases import Leases
from .pauses import Pauses
from .periodic import repeat
from .presence import Presence
from .slots import Slots


class Operating:
    def __init__(
        self, broker: Broker, processor_id: str, settings: Settings, leases: Leases, slots: Slots
    ) -> None:
        self.counts = Counts(broker)
        self.pauses = Pauses(broker, broker.keys, list(settings.queues))
        self.presence = Presence(broker, processor_id, settings, leases, slots)
        self._log = get_logger(__name__, processor=processor_id)

    async def start(self, spawn: Callable[[Coroutine[Any, Any, Any]], None]) -> None:
        """Read the paused flags once (known before the first fetch), then start the loops."""
        with contextlib.suppress(Exception):  # Redis away: the loop reads them once it is back
            await self.pauses.step()
        spawn(repeat(self.pauses.step, "pauses"))
        spawn(repeat(self.counts.step, "counts"))
        spawn(repeat(self.presence.step, "presence"))

    async def leave(self) -> None:
        """Write the last counts and remove the heartbeat record (once the loops stopped, so
        none writes it again)."""
        try:
            await self.counts.flush()
            await self.presence.leave()
        except Exception as exc:  # Redis away: the record expires by its TTL anyway
            self._log.warning("processor.leave_failed", error=str(exc) or repr(exc))
