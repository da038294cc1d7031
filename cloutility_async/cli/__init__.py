"""The ``cloutility`` command: audits, the business-unit tree, consumers, the simulator.

``main(argv) -> int`` is the entry point (``cloutility = "cloutility_async.cli:main"``).
Exit codes: 0 when everything was done, 1 when some consumers (or units) failed
(they are in the output with their ``error``) or the portal failed, 2 for usage,
configuration and authentication errors, 130 on Ctrl-C. Errors are one line on
stderr, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .._exceptions import (
    AuthenticationError,
    CloutilityError,
    ConfigurationError,
    NotFoundError,
    ValidationError,
)
from .._logging import logging_to_stderr
from .._version import __version__
from ._completion import SHELLS, completion_script

if TYPE_CHECKING:
    from ._config import Settings

__all__ = ["main"]

PROG = "cloutility"
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_DESCRIPTION = """\
Audit the backups of a Cloutility portal: for every consumption unit, is its node
active, when did it last back up, how much does it store, which jobs failed?

Try it without an account: cloutility audit --demo
"""
_AUDIT_DESCRIPTION = """\
For every consumer of the tree (or of --bunit), fetch its node, its latest report
and the jobs of the last --since hours, concurrently. Prints a table, or streams
JSON Lines / CSV as consumers complete; a progress bar (on a terminal) and a
one-line summary go to stderr.

The table fits the terminal: columns wrap only between words, and on a narrow
terminal Node, Warnings and Jobs are left out (in that order; stderr says so).
In a pipe or a file it is as wide as its longest row, unless COLUMNS is set;
for scripts use --format csv or --format json, which have every field.

last_backup is the newest completion of a backup job of the window whose status
is Completed (or Completed with warnings); none means no good backup in the window.
"""
_CONFIG_HELP = """\
configuration: the CLOUTILITY_CLIENT_ID, CLOUTILITY_ORIGIN, CLOUTILITY_USERNAME,
CLOUTILITY_PASSWORD and (optional) CLOUTILITY_BASE_URL environment variables, or
the same keys in lower case (client_id, origin, username, password, base_url, plus
max_concurrency, max_retries, timeout) in a TOML file given with --config; the
environment wins over the file. The password is never taken from the command line:
when it is missing, it is asked for on a terminal.

environment: NO_COLOR=1 turns colour, styles and the progress bar off;
FORCE_COLOR=1 keeps colour in a pipe; CLOUTILITY_LOG=debug|info|warning logs
the SDK's records to stderr (as --debug does), secrets masked.

exit status: 0 all done, 1 some consumers failed (see their "error") or the
portal could not be reached, 2 usage, configuration or authentication error,
130 interrupted.
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written, and every option's default after its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or not action.option_strings
            or default in (None, False, argparse.SUPPRESS)
            or isinstance(action, argparse._HelpAction | argparse._VersionAction)
        ):
            return action.help
        return f"{text} (default: %(default)s)".lstrip()


def version_line() -> str:
    """What ``cloutility version`` and ``cloutility -V`` print."""
    return f"cloutility-async {__version__}"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {text!r}") from None
    if not 0 < value < 24 * 366 * 10:
        raise argparse.ArgumentTypeError(f"must be a positive number of hours, got {text}")
    return value


def _connection_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument(
        "--demo",
        action="store_true",
        help="run against an embedded simulated portal on 127.0.0.1 (no account needed)",
    )
    group.add_argument(
        "--demo-consumers",
        type=int,
        default=None,
        metavar="N",
        help="consumption units in the --demo portal (default 40)",
    )
    group.add_argument(
        "--drift",
        action="store_true",
        help="the --demo portal sends the deviations the vendor warns about (seeded)",
    )
    group.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML file with the connection settings"
    )
    group.add_argument(
        "--concurrency",
        type=_positive_int,
        metavar="N",
        help="requests (and consumers) in flight at once (default: the client's, 16)",
    )
    group.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help=argparse.SUPPRESS
    )
    group.add_argument(
        "--debug",
        action="store_true",
        help="log every request, retry and token grant to stderr, secrets masked "
        "(the records CLOUTILITY_LOG=debug gives)",
    )
    return common


def _output_options(parser: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    parser.add_argument(
        "--format",
        choices=formats,
        default=formats[0],
        help="output format (json is JSON Lines, one object a line)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write to FILE (atomically: a temporary file renamed when complete)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``cloutility`` parser: the top-level options, then one subparser per command."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_CONFIG_HELP,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _connection_options()
    _audit_arguments(_portal_command(sub, "audit", common, _AUDIT_HELP, _AUDIT_DESCRIPTION))
    _bunits_arguments(_portal_command(sub, "bunits", common, "print the business-unit tree"))
    _consumers_arguments(_portal_command(sub, "consumers", common, _CONSUMERS_HELP))
    _version_arguments(_portal_command(sub, "version", common, _VERSION_HELP))
    _simulate_arguments(
        sub.add_parser(
            "simulate",
            help="serve the simulated portal over HTTP until Ctrl-C",
            description="Serve the simulated Cloutility portal; it prints the URL and the "
            "demo credentials to use, then a READY line.",
            formatter_class=_HelpFormatter,
        )
    )
    _completion_arguments(
        sub.add_parser(
            "completion",
            help="print a shell completion script (bash, zsh or fish)",
            description=_COMPLETION_DESCRIPTION,
            formatter_class=_HelpFormatter,
        )
    )
    return parser


_AUDIT_HELP = "audit every consumer: node, last backup, storage, failed jobs"
_CONSUMERS_HELP = "list the consumers of a business unit and its descendants"
_VERSION_HELP = "print the version (and, with --portal or --demo, the portal's)"


def _portal_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    common: argparse.ArgumentParser,
    summary: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """A command that talks to a portal: the connection options and the configuration epilog."""
    return sub.add_parser(
        name,
        parents=[common],
        help=summary,
        description=description,
        epilog=_CONFIG_HELP,
        formatter_class=_HelpFormatter,
    )


def _audit_arguments(audit: argparse.ArgumentParser) -> None:
    audit.add_argument("--bunit", type=_positive_int, metavar="ID", help="audit this subtree")
    audit.add_argument(
        "--since",
        type=_hours,
        default=24,
        metavar="HOURS",
        help="the job window, in hours",
    )
    _output_options(audit, ("table", "json", "csv"))
    audit.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no summary line"
    )


def _bunits_arguments(bunits: argparse.ArgumentParser) -> None:
    bunits.add_argument("--bunit", type=_positive_int, metavar="ID", help="start at this unit")
    bunits.add_argument("--format", choices=("tree", "json"), default="tree", help="output format")


def _consumers_arguments(consumers: argparse.ArgumentParser) -> None:
    consumers.add_argument(
        "--bunit", type=_positive_int, metavar="ID", help="this unit (default: your whole tree)"
    )
    _output_options(consumers, ("table", "json", "csv"))


def _version_arguments(version: argparse.ArgumentParser) -> None:
    version.add_argument("--portal", action="store_true", help="also ask the portal its version")


def _simulate_arguments(simulate: argparse.ArgumentParser) -> None:
    """The simulator's own ``serve`` options (``python -m cloutility_async.testing``)."""
    try:
        from ..testing._server import add_serve_arguments
    except ImportError:  # pragma: no cover - the simulator ships with the package
        return
    add_serve_arguments(simulate)


def _completion_arguments(completion: argparse.ArgumentParser) -> None:
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")


_COMPLETION_DESCRIPTION = """\
Print a completion script for commands, options and their values. Install it:

  bash:  cloutility completion bash > ~/.local/share/bash-completion/completions/cloutility
  zsh:   cloutility completion zsh > "${fpath[1]}/_cloutility"   (then: compinit)
  fish:  cloutility completion fish > ~/.config/fish/completions/cloutility.fish

or try it in the current shell: source <(cloutility completion bash)
"""


def _fail(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside (nested) exception groups; ``exc`` itself otherwise."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and inner:
        for child in inner:
            yield from _leaves(child)
    else:
        yield exc


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse printed
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else 2)
    try:
        return _run(args)
    except BaseException as exc:
        leaves = list(_leaves(exc))
        if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
            _fail("interrupted")
            return EXIT_INTERRUPTED
        first = leaves[0]
        if len(leaves) == 1 and isinstance(first, CloutilityError):
            if isinstance(first, AuthenticationError):
                _fail(f"authentication failed: {first}")
                return EXIT_USAGE
            if _token_route_not_found(first):
                _fail(f"{first} (the base URL must be the API's root, {_ROOT_EXAMPLE})")
                return EXIT_USAGE
            _fail(str(first))
            if isinstance(first, (ConfigurationError, ValidationError)):
                return EXIT_USAGE
            return EXIT_FAILURES
        if len(leaves) == 1 and isinstance(first, BrokenPipeError):
            _quiet_stdout()
            return EXIT_FAILURES
        if len(leaves) == 1 and isinstance(first, OSError):
            _fail(_describe_os_error(first))
            return EXIT_USAGE
        raise


_ROOT_EXAMPLE = "such as https://portal-api.backup.sto2.safedc.net/v1/"


def _token_route_not_found(exc: CloutilityError) -> bool:
    """A 404 for the login itself: the portal is there, but not at this base URL (a
    missing ``/v1/``), which is a configuration error, not a failed audit."""
    url = str(exc.url or "")
    return isinstance(exc, NotFoundError) and url.partition("?")[0].endswith("/oauth")


def _describe_os_error(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    return f"{exc.filename}: {what}" if exc.filename else what


def _quiet_stdout() -> None:
    """After EPIPE (``cloutility audit --format json | head``): no error on exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _run(args: argparse.Namespace) -> int:
    if args.command == "simulate":
        from ..testing._server import run_from_args

        return run_from_args(args)
    if args.command == "completion":
        sys.stdout.write(completion_script(build_parser(), args.shell))
        return EXIT_OK
    if args.command == "version" and not (args.portal or args.demo):
        sys.stdout.write(version_line() + "\n")
        return EXIT_OK
    output = getattr(args, "output", None)
    if output is not None and not output.parent.is_dir():
        raise ConfigurationError(f"cannot write {output}: {output.parent} is not a directory")
    try:
        import anyio

        from ._commands import COMMANDS
    except ImportError as exc:
        raise ConfigurationError(
            f"the command line needs {exc.name}: pip install 'cloutility-async[cli]'"
        ) from None
    command = COMMANDS[args.command]
    debug = logging_to_stderr("debug") if args.debug else contextlib.nullcontext()
    with debug, _settings(args) as settings:
        try:
            return anyio.run(functools.partial(command, args, settings), backend=args.backend)
        except ImportError as exc:
            if exc.name == args.backend:
                raise ConfigurationError(f"--backend {args.backend}: not installed") from None
            raise


@contextmanager
def _settings(args: argparse.Namespace) -> Iterator[Settings]:
    if args.demo:
        from ._demo import DEMO_CONSUMERS, demo_settings

        consumers = DEMO_CONSUMERS if args.demo_consumers is None else args.demo_consumers
        with demo_settings(consumers, drift=args.drift) as settings:
            yield settings
        return
    if args.demo_consumers is not None:
        raise ConfigurationError("--demo-consumers needs --demo")
    if args.drift:
        raise ConfigurationError("--drift needs --demo")
    from ._config import load_settings

    yield load_settings(args.config)
