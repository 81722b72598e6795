"""The lists and streams a processor consumes: registered before start, started after the
fetcher (their tasks find workers ready) and stopped first (nothing new comes in while the
processor winds down)."""

from __future__ import annotations

import asyncio
from typing import Any

from tandemq.common.broker import Broker
from tandemq.common.errors import ConfigError
from tandemq.common.keys import validate_queue_name

from .intake import IntakeSpec
from .intake_list import IntakeList
from .intake_stream import IntakeStream
from .periodic import repeat


class Intakes:
    def __init__(self) -> None:
        self.specs: list[IntakeSpec] = []
        self._components: list[IntakeList | IntakeStream] = []
        self._tasks: list[asyncio.Task[Any]] = []

    def add(self, spec: IntakeSpec) -> None:
        if self._tasks:
            raise ConfigError(f"consume {spec.key!r} before the processor starts, not after")
        if not spec.key:
            raise ConfigError("the list or stream to consume needs a key name")
        if any(s.key == spec.key for s in self.specs):
            raise ConfigError(f"{spec.key!r} is already consumed by this processor")
        if spec.group is not None and not spec.group:
            raise ConfigError(f"consume_stream({spec.key!r}) needs a non-empty group name")
        try:
            validate_queue_name(spec.queue)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.specs.append(spec)

    def start(self, broker: Broker, consumer: str, lease_ms: int) -> None:
        for spec in self.specs:
            kind = IntakeList if spec.group is None else IntakeStream
            component = kind(broker, spec, consumer, lease_ms)
            self._components.append(component)
            self._tasks.append(asyncio.create_task(component.run()))
            self._tasks.append(asyncio.create_task(repeat(component.maintain, "intake")))

    @property
    def tasks(self) -> list[asyncio.Task[Any]]:
        return self._tasks

    async def closed(self) -> None:
        """After the tasks were cancelled: each component gives back what it holds."""
        for component in self._components:
            await component.close()
        self._components, self._tasks = [], []
