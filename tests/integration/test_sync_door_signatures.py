"""``asyncbatch.sync.BatchClient``'s verbs are derived from ``asyncbatch.BatchClient``'s: they
show the async verbs' own parameters (``inspect``, ``help()``, ``get_type_hints``), and a wrong
call is refused in the calling thread before anything is sent. The static side (mypy) is
``tests/typecheck/sync_door_calls.py``.
"""

from __future__ import annotations

import asyncio
import inspect
import pydoc
import typing

import pytest

import asyncbatch
import asyncbatch.sync
from asyncbatch.emulator import Emulator, EmulatorConfig

BLOCKING = ("update", "upsert", "create", "read", "archive", "properties")
#: Each sync stream verb takes the arguments of the blocking verb it streams.
STREAMING = {
    "stream_update": "update",
    "stream_upsert": "upsert",
    "stream_read": "read",
    "stream_create": "create",
    "stream_archive": "archive",
}
TOKEN = "sync-token-0123456789"


@pytest.mark.parametrize("name", BLOCKING)
def test_a_blocking_verb_shows_the_async_verbs_signature(name: str) -> None:
    sync_verb = getattr(asyncbatch.sync.BatchClient, name)
    assert inspect.signature(sync_verb) == inspect.signature(getattr(asyncbatch.BatchClient, name))
    assert sync_verb.__qualname__ == f"BatchClient.{name}"
    assert sync_verb.__module__ == "asyncbatch.sync"
    assert "blocking" in (sync_verb.__doc__ or "")


@pytest.mark.parametrize("name", STREAMING)
def test_a_stream_verb_shows_the_blocking_verbs_parameters(name: str) -> None:
    sync_verb = getattr(asyncbatch.sync.BatchClient, name)
    like = inspect.signature(getattr(asyncbatch.BatchClient, STREAMING[name]))
    shown = inspect.signature(sync_verb)
    assert shown.parameters == like.parameters
    assert shown.return_annotation == "Generator[BatchResult, None, None]"
    assert sync_verb.__qualname__ == f"BatchClient.{name}"


@pytest.mark.parametrize("name", [*BLOCKING, *STREAMING])
def test_help_and_type_hints_name_the_real_parameters(name: str) -> None:
    sync_verb = getattr(asyncbatch.sync.BatchClient, name)
    hints = typing.get_type_hints(sync_verb)
    assert hints["object_type"] is str
    text = pydoc.render_doc(sync_verb, renderer=pydoc.plaintext)
    assert "object_type: 'str'" in text and "*args" not in text
    if name != "properties":
        assert "on_chunk: 'ChunkHook | None' = None" in text


@pytest.mark.parametrize("name", [*BLOCKING, *STREAMING])
def test_the_async_verbs_type_hints_resolve(name: str) -> None:
    # ``ChunkHook`` once named ``Awaitable`` in a string that resolved nowhere: NameError.
    hints = typing.get_type_hints(getattr(asyncbatch.BatchClient, name))
    assert hints["object_type"] is str


@pytest.mark.asyncio
async def test_a_wrong_call_raises_type_error_before_anything_is_sent() -> None:
    async with Emulator(EmulatorConfig(token=TOKEN)) as emu:
        client = await asyncio.to_thread(asyncbatch.sync.BatchClient, TOKEN, base_url=emu.url)
        try:
            with pytest.raises(TypeError, match="id_property"):
                await asyncio.to_thread(client.create, "0-410", [], id_property="course_code")
            with pytest.raises(TypeError, match="records"):
                await asyncio.to_thread(client.upsert, "0-410")
            with pytest.raises(TypeError):
                await asyncio.to_thread(client.stream_read, "0-410", ["1"], "level")
            with pytest.raises(TypeError, match="ids"):
                await asyncio.to_thread(client.read, "0-410", records=["1"])
            # Right calls, with keywords where the caller may give them, still go through.
            result = await asyncio.to_thread(
                client.read, object_type="0-410", ids=["999"], properties=["level"]
            )
        finally:
            await asyncio.to_thread(client.close)
    assert [f.input.id for f in result.failed] == ["999"]
    assert emu.stats.total_requests == 1  # only the right call's
