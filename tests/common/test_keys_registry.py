"""Key layout (one Redis Cluster slot per queue, everything under the prefix), payload type
names and the registries, and TaskInfo.from_hash on damaged task hashes."""

from __future__ import annotations

import binascii
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from redis.crc import key_slot

from tandemq.common.errors import RegistryError, UnknownTaskType
from tandemq.common.keys import Keys, QueueKeys, validate_queue_name
from tandemq.common.registry import PayloadRegistry, type_name
from tandemq.common.task import Field, TaskInfo, TaskState
from tandemq.processor.handlers import Handlers


def _slot_of_tag(tag: str) -> int:
    """CRC16/XMODEM of the hash tag, mod 16384: the Redis Cluster spec, computed by hand."""
    return binascii.crc_hqx(tag.encode(), 0) % 16384


def _all_keys(qk: QueueKeys, task_id: str, payload: bytes) -> list[str]:
    return [
        qk.pending,
        qk.active,
        qk.scheduled,
        qk.retry,
        qk.archived,
        qk.completed,
        qk.task(task_id),
        qk.unique("some.Type", payload),
        qk.task_prefix,
        qk.unique_prefix,
    ]


queue_names = st.text(min_size=1, max_size=30).filter(
    lambda s: "{" not in s and "}" not in s and s == s.strip()
)


@given(
    prefix=st.text(min_size=1, max_size=20).filter(lambda s: "{" not in s and "}" not in s),
    queue=queue_names,
    task_id=st.text(min_size=1, max_size=40),
    payload=st.binary(max_size=50),
)
def test_every_key_of_a_queue_is_in_the_queues_slot_under_the_prefix(
    prefix: str, queue: str, task_id: str, payload: bytes
) -> None:
    qk = Keys(prefix).queue(queue)
    expected = _slot_of_tag(queue)
    for key in _all_keys(qk, task_id, payload):
        assert key.startswith(f"{prefix}:{{{queue}}}:"), key
        assert key_slot(key.encode()) == expected, key


def test_keys_of_a_known_queue() -> None:
    keys = Keys("app")
    qk = keys.queue("critical")
    assert qk.pending == "app:{critical}:pending"
    assert qk.task("abc") == "app:{critical}:t:abc"
    assert qk.unique("T", b"{}").startswith("app:{critical}:u:")
    assert keys.queues == "app:queues"
    assert keys.wake_channel == "app:wake"
    assert keys.queue("critical") is qk
    # Distinct queues, distinct slots here (so the hash tag is really the queue name).
    assert key_slot(qk.pending.encode()) != key_slot(keys.queue("low").pending.encode())


def test_a_task_id_with_braces_does_not_move_the_task_out_of_its_slot() -> None:
    qk = Keys("p").queue("q")
    assert key_slot(qk.task("{other}").encode()) == _slot_of_tag("q")


def test_unique_key_depends_on_type_and_payload_without_ambiguity() -> None:
    qk = Keys("p").queue("q")
    assert qk.unique("a.T", b'{"x":1}') == qk.unique("a.T", b'{"x":1}')
    assert qk.unique("a.T", b'{"x":1}') != qk.unique("a.T", b'{"x":2}')
    assert qk.unique("a.T", b'{"x":1}') != qk.unique("a.U", b'{"x":1}')
    assert qk.unique("ab", b"c") != qk.unique("a", b"bc")


@pytest.mark.parametrize("prefix", ["", "a{b", "a}b"])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        Keys(prefix)


@pytest.mark.parametrize("name", ["", "a{b", "a}b", " lead", "trail ", "{}"])
def test_bad_queue_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid queue name"):
        validate_queue_name(name)
    with pytest.raises(ValueError, match="invalid queue name"):
        Keys("p").queue(name)


# -- type names and registries ----------------------------------------------------------------


class Plain(BaseModel):
    n: int = 0


class Named(BaseModel):
    tandemq_type: ClassVar[str] = "email.verify"
    username: str = ""


class Outer:
    class Inner(BaseModel):
        pass


def test_type_name_defaults_to_module_and_qualname() -> None:
    assert type_name(Plain) == f"{__name__}.Plain"
    assert type_name(Outer.Inner) == f"{__name__}.Outer.Inner"


def test_type_name_classvar_overrides_and_is_not_a_field() -> None:
    assert type_name(Named) == "email.verify"
    assert "tandemq_type" not in Named.model_fields
    assert Named(username="a").model_dump() == {"username": "a"}


def test_type_name_of_a_subclass_inherits_the_explicit_name() -> None:
    class Sub(Named):
        pass

    assert type_name(Sub) == "email.verify"


@pytest.mark.parametrize("bad", [int, dict, "Plain", Plain()])
def test_type_name_refuses_what_is_not_a_model_class(bad: object) -> None:
    with pytest.raises(RegistryError, match="pydantic BaseModel"):
        type_name(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["", 5, "a\x1fb", "line\nbreak"])
def test_type_name_refuses_an_empty_non_str_or_unprintable_explicit_name(value: object) -> None:
    class Weird(BaseModel):
        tandemq_type: ClassVar[object] = value

    with pytest.raises(RegistryError, match="tandemq_type must be a non-empty printable str"):
        type_name(Weird)


def test_registry_refuses_two_models_with_one_name() -> None:
    class Other(BaseModel):
        tandemq_type: ClassVar[str] = "email.verify"

    registry = PayloadRegistry()
    assert registry.register(Named) == "email.verify"
    assert registry.register(Named) == "email.verify"  # the same model again is fine
    with pytest.raises(RegistryError) as caught:
        registry.register(Other)
    message = str(caught.value)
    assert "'email.verify'" in message
    assert "Named" in message
    assert "Other" in message
    assert registry.get("email.verify") is Named
    assert registry.get("nope") is None
    assert registry.names() == ["email.verify"]


async def _noop(payload: BaseModel, ctx: object) -> None:
    return None


def test_handlers_refuse_a_second_handler_and_name_unknown_types() -> None:
    handlers = Handlers()
    handlers.register(Plain, _noop)
    handlers.register(Named, _noop)
    with pytest.raises(RegistryError, match="already registered"):
        handlers.register(Plain, _noop)
    assert handlers.resolve("email.verify").model is Named
    with pytest.raises(UnknownTaskType) as caught:
        handlers.resolve("no.such.Type")
    message = str(caught.value)
    assert "'no.such.Type'" in message
    assert "email.verify" in message
    assert f"{__name__}.Plain" in message


# -- TaskInfo.from_hash -----------------------------------------------------------------------


def test_from_hash_reads_a_complete_hash() -> None:
    info = TaskInfo.from_hash(
        "t1",
        "q",
        {
            Field.TYPE: "a.T",
            Field.PAYLOAD: '{"x": [1, 2]}',
            Field.STATE: "retry",
            Field.RETRIED: "2",
            Field.MAX_RETRY: "5",
            Field.ERROR: "boom",
            Field.ENQUEUED: "1700000000000",
            Field.DUE: "1700000005000",
            Field.FAILED: "1700000001000",
            Field.TIMEOUT: "2500",
            Field.DEADLINE: "1700000100000",
            Field.RETENTION: "60000",
        },
    )
    assert (info.id, info.queue, info.type, info.state) == ("t1", "q", "a.T", TaskState.RETRY)
    assert info.payload == {"x": [1, 2]}
    assert (info.retried, info.max_retry, info.last_error) == (2, 5, "boom")
    assert info.enqueued_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert info.next_process_at == info.enqueued_at + timedelta(seconds=5)
    assert info.failed_at == info.enqueued_at + timedelta(seconds=1)
    assert info.timeout == timedelta(milliseconds=2500)
    assert info.deadline == info.enqueued_at + timedelta(seconds=100)
    assert info.retention == timedelta(minutes=1)
    assert info.completed_at is None


def test_from_hash_tolerates_corrupt_fields() -> None:
    info = TaskInfo.from_hash(
        "t1",
        "q",
        {
            Field.PAYLOAD: "{not json",
            Field.STATE: "exploded",
            Field.RETRIED: "x",
            Field.MAX_RETRY: "1.5",
            Field.ENQUEUED: "yesterday",
            Field.DUE: "",
            Field.TIMEOUT: "nan",
            Field.ERROR: "",
        },
    )
    assert info.payload == "{not json"
    assert info.state is TaskState.PENDING
    assert (info.retried, info.max_retry) == (0, 0)
    assert info.type == ""
    assert info.enqueued_at is None
    assert info.next_process_at is None
    assert info.timeout is None
    assert info.last_error is None


def test_from_hash_of_an_empty_hash() -> None:
    info = TaskInfo.from_hash("t1", "q", {})
    assert (info.state, info.payload, info.retried) == (TaskState.PENDING, "", 0)


def test_from_hash_tolerates_a_time_out_of_range() -> None:
    info = TaskInfo.from_hash("t1", "q", {Field.TYPE: "a.T", Field.ENQUEUED: str(10**17)})
    assert info.type == "a.T"
