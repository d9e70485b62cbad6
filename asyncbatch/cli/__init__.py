"""The ``asyncbatch`` command line: argument parsing, progress and output; calls the public API.

Subcommands: ``update`` and ``upsert`` (a CSV or JSON Lines file, streamed, through
``BatchClient``; see ``_cli_run`` for the job and its exit codes), ``demo`` (the main job on
the embedded emulator) and ``emulator`` (serve the local HubSpot emulator). The commands need
the ``cli`` extra (click, rich); without it ``asyncbatch`` says so in one line and exits 2.

Does I/O (files, terminal, network). No traceback reaches the user: errors print one line
and set the exit code (an unexpected error exits 3, "the run could not go on"; ``--debug``
shows its traceback).
"""

from __future__ import annotations

import sys
import traceback

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
        return 2
    from ._app import cli

    try:
        code = cli.main(args=args, prog_name="asyncbatch", standalone_mode=False)
    except click.ClickException as exc:  # usage errors: click's own message, exit 2
        exc.show()
        return exc.exit_code
    except click.Abort:
        print("asyncbatch: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("asyncbatch: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # argparse (the emulator's options) exits this way
        return exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # one line, no traceback, for any failure we did not foresee
        if "--debug" in args:
            traceback.print_exc()
        print(f"asyncbatch: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        # Not 1 ("some records failed"): the run itself broke off (disk full, a bug...).
        return 3
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
