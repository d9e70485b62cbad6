"""Checked by ``mypy --strict`` (``make test``), never run: the sync door's verbs, derived from
the async ones, keep their parameter types for type checkers.

Each ``type: ignore[...]`` marks a call mypy must refuse: under ``--strict``
(``warn_unused_ignores``) a wrong call it stopped refusing fails the check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import assert_type

from asyncbatch import BatchResult, PropertySchema
from asyncbatch.sync import BatchClient

Stream = Generator[BatchResult, None, None]


def accepted(client: BatchClient, ids: list[str]) -> None:
    assert_type(client.update("0-410", [], id_property="course_code"), BatchResult)
    assert_type(client.upsert("0-410", iter([]), id_property="course_code"), BatchResult)
    assert_type(client.create("0-410", [], on_chunk=print), BatchResult)
    assert_type(client.read("0-410", ids, properties=["level"], archived=True), BatchResult)
    assert_type(client.archive("0-410", ids), BatchResult)
    assert_type(client.properties("0-410"), PropertySchema)
    assert_type(client.stream_update("0-410", []), Stream)
    assert_type(client.stream_upsert("0-410", [], id_property="course_code"), Stream)
    assert_type(client.stream_read("0-410", ids, properties_with_history=["level"]), Stream)
    assert_type(client.stream_create("0-410", iter([]), on_chunk=print), Stream)
    assert_type(client.stream_archive("0-410", ids), Stream)


def refused(client: BatchClient, records: AsyncIterator[object]) -> None:
    client.update("0-410")  # type: ignore[call-arg]
    client.update("0-410", [], id_property=1)  # type: ignore[arg-type]
    client.upsert("0-410", [], "course_code")  # type: ignore[call-arg]
    client.create("0-410", [], id_property="course_code")  # type: ignore[call-arg]
    client.stream_create("0-410", [], id_property="course_code")  # type: ignore[call-arg]
    client.read("0-410", [], archived="yes")  # type: ignore[arg-type]
    client.archive("0-410", [], on_chunk=1)  # type: ignore[arg-type]
    client.properties()  # type: ignore[call-arg]
    # A stream's records come from a plain iterable: the calling thread reads them.
    client.stream_upsert("0-410", records)  # type: ignore[arg-type]
    client.stream_read("0-410", [], propertes=["level"])  # type: ignore[call-arg]
