"""OpenTelemetry's global providers (issue 18 item 4): a client uses them by default, records
nothing with ``telemetry=False``, and importing asyncbatch imports nothing of OpenTelemetry. In
a process of its own, because the global providers can be set once per process (the rest of
the suite must not record into them); the emulator runs in that process on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

_GLOBAL_PROVIDERS = textwrap.dedent(
    """
    import asyncio, sys
    import asyncbatch
    # Importing the package imports nothing of OpenTelemetry; a client does, when installed.
    assert not [m for m in sys.modules if m.split(".")[0] == "opentelemetry"], "imported"
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from asyncbatch.emulator import Emulator, EmulatorConfig

    async def main():
        async with Emulator(EmulatorConfig(token="global-token-0123")) as emu:
            records = [{"id": f"G{i}", "properties": {"level": "beginner"}} for i in range(5)]
            # Made before the application configures OpenTelemetry: the global no-op
            # providers are proxies, and start recording once real ones are set.
            early = asyncbatch.BatchClient("global-token-0123", base_url=emu.url)
            spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(spans))
            trace.set_tracer_provider(provider)
            metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
            async with early:
                await early.upsert("0-410", records, id_property="course_code")
            on = len(spans.get_finished_spans())
            async with asyncbatch.BatchClient(
                "global-token-0123", base_url=emu.url, telemetry=False
            ) as off:
                await off.upsert("0-410", records, id_property="course_code")
            print(on, len(spans.get_finished_spans()) - on)

    asyncio.run(main())
    """
)


def test_global_providers_by_default_and_nothing_when_off() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HUBSPOT_ACCESS_TOKEN"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    completed = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDERS],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["2", "0"]  # the GET and one POST; none when off
