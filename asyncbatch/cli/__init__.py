"""The ``asyncbatch`` command line: argument parsing, progress and output; calls the public API.

Subcommands: ``update``, ``upsert`` and ``create`` (a CSV or JSON Lines file, streamed, through
``BatchClient``), ``read`` and ``archive`` (a file of ids), all run by ``_job`` (the verbs as
data in ``_verbs``; ``_exit`` for the exit codes), ``demo`` (the main job on the embedded
emulator) and ``emulator`` (serve the local HubSpot emulator). The commands need the ``cli``
extra (click, rich); without it ``asyncbatch`` says so in one line and exits 2.

The package: ``_app`` (click), ``_prepare`` (options, input, rate, output paths),
``_credentials`` (``--token-file``, an OAuth app's or an access token from the environment),
``_verbs`` (what differs between the commands), ``_dry_run``, ``_job`` (one run), ``_sinks``
(``--out``, ``--errors``, ``--checkpoint``), ``_signals``, ``_exit`` (the exit code),
``_input``, ``_output``, ``_checkpoint``, ``_progress`` and ``_demo`` (the demo account,
shared with ``--sandbox``).

Does I/O (files, terminal, network). No traceback reaches the user: errors print one line
and set the exit code (an unexpected error exits 3, "the run could not go on"; ``--debug``
shows its traceback). Secrets (the token, an OAuth app's client secret and refresh token, a
Redis URL's password) are never printed.
"""

from __future__ import annotations

import itertools
import os
import sys
import traceback

from .._redact import mask
from ._exit import Outcome, exit_code

__all__ = ["main"]

_NO_EXTRA = (
    "asyncbatch: the command line needs its extra: pip install 'asyncbatch[cli]' (click and rich)"
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``asyncbatch``; returns the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        import click
    except ImportError:
        print(_NO_EXTRA, file=sys.stderr)
        return exit_code(Outcome(usage_error=_NO_EXTRA))
    from ._app import cli

    try:
        code = cli.main(args=args, prog_name="asyncbatch", standalone_mode=False)
    except click.ClickException as exc:  # usage errors: click's own message, exit 2
        exc.show()
        return exit_code(Outcome(usage_error=exc.format_message()))
    except (click.Abort, KeyboardInterrupt) as exc:
        word = "aborted" if isinstance(exc, click.Abort) else "interrupted"
        print(f"asyncbatch: {word}", file=sys.stderr)
        return exit_code(Outcome(interrupted=True))
    except SystemExit as exc:  # click's shell completion exits this way
        return exc.code if isinstance(exc.code, int) else exit_code(Outcome(usage_error="usage"))
    except Exception as exc:  # one line, no traceback, for any failure we did not foresee
        if "--debug" in args:
            traceback.print_exc()
        message = mask(f"{type(exc).__name__}: {exc}", _secrets(args))
        print(f"asyncbatch: error: {message}", file=sys.stderr)
        # Not 1 ("some records failed"): the run itself broke off (a bug...).
        return exit_code(Outcome(stop_reason=message))
    return code if isinstance(code, int) else 0


def _secrets(args: list[str]) -> list[str]:
    """What an unforeseen error's message must not show: the environment's credentials (the
    token, an OAuth app's secret and refresh token) and Redis URL secrets."""
    urls = [os.environ.get("ASYNCBATCH_REDIS_URL", "")]
    urls += [value for flag, value in itertools.pairwise(args) if flag == "--redis-url"]
    urls += [arg.partition("=")[2] for arg in args if arg.startswith("--redis-url=")]
    from ._credentials import environment_secrets
    from ._prepare import url_secret_pieces

    found = [s for url in urls if url for s in url_secret_pieces(url)]
    return [*found, *environment_secrets()]


if __name__ == "__main__":
    sys.exit(main())
