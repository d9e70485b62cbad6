"""Issue 15 item 5, first impressions, as real processes: the demo says its failures are
deliberate, exits 0 and prints what the README shows; ``make demo`` installs only the command
line's extra; ``asyncbatch emulator`` is click with the command line's errors and exit codes;
shell completion works; the package carries its licence."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.cli._helpers import CLI, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
#: Lines of the demo that change from run to run.
_TIMED = re.compile(r"^\s+(elapsed|throughput)\s")


def run(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=subprocess_env(**env),
    )


def readme_demo_block() -> list[str]:
    """The output the README says ``make demo`` prints (the block after "prints:")."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split("`make demo` prints", 1)[1]
    block = after.split("```", 2)[1]
    return block.strip("\n").splitlines()[1:]  # the first line is the command


def test_the_demo_says_its_failures_are_deliberate_and_exits_0_printing_the_readme() -> None:
    completed = run("demo")
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout.splitlines()
    assert out[-1].startswith("asyncbatch demo: as expected, the 12 failures are the sample's")
    failures = [line for line in out if line.startswith("    line ")]
    assert len(failures) == 3
    for line in failures:
        assert line.endswith(
            "level: 'expert' is not one of the allowed options: beginner, intermediate, advanced"
        )
    shown = readme_demo_block()
    assert [_TIMED.sub("", line) for line in shown if not _TIMED.match(line)] == [
        line for line in out if not _TIMED.match(line)
    ]


def test_make_demo_installs_only_the_cli_extra() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    demo = re.search(r"^demo: (\S+)\n\t(.+)$", makefile, re.MULTILINE)
    assert demo is not None
    stamp, command = demo.groups()
    assert command.endswith("asyncbatch demo")
    recipe = makefile.split(f"{stamp}: pyproject.toml\n", 1)[1].split("\n\n", 1)[0]
    assert "-e '.[cli]'" in recipe and "dev" not in recipe and "bench" not in recipe


def test_emulator_help_is_clicks_and_names_every_option() -> None:
    completed = run("emulator", "--help")
    assert completed.returncode == 0
    assert completed.stdout.startswith("Usage: asyncbatch emulator [OPTIONS]")
    for option in ("--port", "--token", "--rate-limit", "--properties", "--lenient", "--seed"):
        assert option in completed.stdout


def test_emulator_bad_properties_file_is_named_and_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "props.json"
    broken.write_text('{"0-410": [{"type": "string"}]}')
    completed = run("emulator", "--port", "0", "--properties", str(broken))
    assert completed.returncode == 2
    assert completed.stderr.startswith(f"asyncbatch: error: --properties {broken}: '0-410' must")
    broken.write_text("{not json")
    completed = run("emulator", "--port", "0", "--properties", str(broken))
    assert completed.returncode == 2
    assert f"--properties {broken}: not JSON" in completed.stderr
    completed = run("emulator", "--port", "0", "--fault-kinds", "teapot")
    assert completed.returncode == 2
    assert completed.stderr.startswith("asyncbatch: error: unknown fault kinds ['teapot']")
    assert "Traceback" not in completed.stderr


def test_emulator_on_a_busy_port_exits_3() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        completed = run("emulator", "--port", str(port))
    assert completed.returncode == 3
    assert completed.stderr.startswith(f"asyncbatch: error: cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in completed.stderr


@pytest.mark.asyncio
async def test_emulator_serves_until_sigterm_and_exits_0(tmp_path: Path) -> None:
    definitions = tmp_path / "props.json"
    definitions.write_text('{"0-410": [{"name": "room", "type": "string"}]}')
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "emulator",
        "--port",
        "0",
        "--token",
        "cli-token",
        "--properties",
        str(definitions),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=subprocess_env(),
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert line.startswith("HubSpot emulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        headers = {"Authorization": "Bearer cli-token"}
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/crm/v3/properties/0-410", headers=headers) as answer:
                assert answer.status == 200
                names = {p["name"] for p in (await answer.json())["results"]}
        assert "room" in names
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await process.communicate()


def test_shell_completion_script_and_answers() -> None:
    script = run(_ASYNCBATCH_COMPLETE="bash_source")
    assert script.returncode == 0
    assert "_asyncbatch_completion()" in script.stdout
    answer = run(
        _ASYNCBATCH_COMPLETE="bash_complete",
        COMP_WORDS="asyncbatch upsert 0-410 in.csv --skip",
        COMP_CWORD="4",
    )
    assert answer.stdout.split() == ["plain,--skip-bad-rows"]


def test_the_package_is_mit_licensed_with_a_license_file() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 asyncbatch developers\n")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = "MIT"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
