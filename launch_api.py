"""Start Fooocus with the REST API, from this repository.

    python launch_api.py [--fooocus-dir PATH] [Fooocus and API flags ...]

Runs Fooocus's own launch.py, in Fooocus's folder and with Fooocus's Python
(the one install.py recorded), with `--api` added. Every other flag goes to
Fooocus unchanged: its own (--listen, --port, --preset, --always-cpu, ...) and
the plugin's:

  --api                 serve the REST API beside the UI (added for you)
  --api-key KEY         require KEY in the X-API-KEY header
  --api-port PORT       also serve the API alone on PORT (e.g. 7866)
  --nowebui             serve the API without the Gradio UI
  --api-base-url URL    base of image URLs in replies (default: from each request)

The Fooocus folder comes from --fooocus-dir, else $FOOOCUS_DIR, else the last
`python install.py PATH` run from this repository.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import runpy
import sys
from pathlib import Path

logger = logging.getLogger("launch_api")

REPOSITORY = Path(__file__).resolve().parent
INSTALL_RECORD = REPOSITORY / ".fooocus-install.json"
API_FLAGS = ("--api", "--nowebui")


class LaunchError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    _configure_logging()
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:
        _help_parser().print_help()
        return 0
    own, fooocus_flags = _parser().parse_known_args(argv)
    try:
        fooocus_dir, python = find_fooocus(own.fooocus_dir)
        _use_python(python)
        run_fooocus(fooocus_dir, fooocus_flags)
    except LaunchError as error:
        logger.error("launch_api: %s", error)
        return 2
    return 0


def _configure_logging() -> None:
    """Only this script's own messages; Fooocus's libraries keep their own settings."""
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _parser(add_help: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch_api.py", add_help=add_help, allow_abbrev=False,
        description="Start Fooocus 2.5.5 with the REST API beside its Gradio UI.",
        epilog="Every other flag goes to Fooocus (--listen, --port, --preset, --always-cpu, "
               "...); `python launch.py --help` in the Fooocus folder lists them.")
    parser.add_argument("--fooocus-dir", type=Path, default=None, metavar="PATH",
                        help="the Fooocus checkout the plugin is installed in (default: "
                             "$FOOOCUS_DIR, else the last `python install.py PATH`)")
    return parser


def _help_parser() -> argparse.ArgumentParser:
    sys.path.insert(0, str(REPOSITORY / "extension"))
    from fooocus_api import options

    parser = _parser(add_help=True)
    options.add_arguments(parser)
    return parser


def find_fooocus(given: Path | None) -> tuple[Path, str | None]:
    record = _install_record()
    if given is None and os.environ.get("FOOOCUS_DIR"):
        given = Path(os.environ["FOOOCUS_DIR"])
    if given is None:
        if not record:
            raise LaunchError("no Fooocus folder: run `python install.py PATH` first, "
                              "or pass --fooocus-dir PATH")
        given = Path(record["fooocus_dir"])

    fooocus_dir = given.expanduser().resolve()
    if not (fooocus_dir / "launch.py").is_file():
        raise LaunchError(f"{fooocus_dir} has no launch.py; is it a Fooocus checkout?")
    if not (fooocus_dir / "extensions" / "fooocus_api").is_dir():
        raise LaunchError(f"the plugin is not installed in {fooocus_dir}; run "
                          f"`python install.py {fooocus_dir}` first")

    python = record.get("python") if Path(record.get("fooocus_dir", "")) == fooocus_dir else None
    return fooocus_dir, python


def _install_record() -> dict[str, str]:
    try:
        return json.loads(INSTALL_RECORD.read_text())
    except (OSError, ValueError):
        return {}


def _use_python(python: str | None) -> None:
    """Re-run this script with Fooocus's Python when another one started it."""
    if not python or not Path(python).exists():
        return
    if Path(python).absolute() == Path(sys.executable).absolute():
        return
    logger.info("launch_api: switching to Fooocus's Python %s", python)
    os.execv(python, [python, str(Path(__file__).resolve()), *sys.argv[1:]])


def run_fooocus(fooocus_dir: Path, flags: list[str]) -> None:
    if not any(flag in API_FLAGS for flag in flags):
        flags = ["--api", *flags]

    sys.path.insert(0, str(fooocus_dir / "extensions"))
    from fooocus_api import activation

    activation.attach()
    launch = fooocus_dir / "launch.py"
    sys.argv = [str(launch), *flags]
    sys.path[0:0] = [str(fooocus_dir)]
    os.chdir(fooocus_dir)
    runpy.run_path(str(launch), run_name="__main__")


if __name__ == "__main__":
    sys.exit(main())
