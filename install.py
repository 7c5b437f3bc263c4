"""Install the fooocus_api plugin into a Fooocus 2.5.5 checkout.

    python install.py PATH              install (cloning Fooocus 2.5.5 if PATH is missing)
    python install.py PATH --deps       also pip-install requirements.txt into the target Python
    python install.py PATH --deps --cluster   ... and requirements-cluster.txt (several machines)
    python install.py --uninstall PATH  remove everything install added

Installing copies extension/fooocus_api/ to PATH/extensions/fooocus_api/ (Fooocus's own
.gitignore ignores /extensions, so the checkout's git status does not change) and writes
fooocus_api.pth into the target Python's site-packages so the plugin activates at startup.

Standard library only: this runs under whatever Python runs Fooocus (3.10 or 3.11).
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("fooocus_api.install")

FOOOCUS_VERSION = "2.5.5"
FOOOCUS_TAG = "v2.5.5"
DEFAULT_GIT_URL = "https://github.com/lllyasviel/Fooocus.git"
REQUIRED_FILES = ("launch.py", "webui.py", "modules/async_worker.py", "args_manager.py")

PACKAGE_NAME = "fooocus_api"
PTH_NAME = "fooocus_api.pth"
PTH_IMPORT_LINE = "import fooocus_api.activation as _fooocus_api; _fooocus_api.activate()"
RECORD_NAME = "install.json"

WATCHED_PACKAGES = ("starlette", "fastapi", "pydantic", "uvicorn", "gradio")
# Versions from which gradio 3.41.2 stops working (lllyasviel/Fooocus#4180).
BREAKING_VERSIONS = {"starlette": (0, 38), "fastapi": (0, 113)}

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REFUSED = 2


class InstallError(Exception):
    """A problem the user can fix; its message is one sentence shown as is."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class PluginRepo:
    """Where this repo keeps what install.py reads and writes."""

    source: Path
    requirements: Path
    record: Path
    patches: Path | None = None
    cluster_requirements: Path | None = None

    @classmethod
    def at(cls, root: Path) -> PluginRepo:
        return cls(
            source=root / "extension" / PACKAGE_NAME,
            requirements=root / "requirements.txt",
            record=root / ".fooocus-install.json",
            patches=root / "patches",
            cluster_requirements=root / "requirements-cluster.txt",
        )


# --- validation ---------------------------------------------------------------------------


def read_fooocus_version(fooocus_dir: Path) -> str | None:
    """The `version = '...'` string of fooocus_version.py, read with ast, never executed."""
    try:
        tree = ast.parse((fooocus_dir / "fooocus_version.py").read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return None

    for node in tree.body:
        if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Constant):
            continue
        names = [target.id for target in node.targets if isinstance(target, ast.Name)]
        if "version" in names and isinstance(node.value.value, str):
            return node.value.value
    return None


def validate(fooocus_dir: Path) -> None:
    """Refuse (exit 2) anything that is not a complete Fooocus 2.5.5 checkout."""
    if not fooocus_dir.is_dir():
        raise InstallError(f"{fooocus_dir} is not a folder: not a Fooocus checkout.", EXIT_REFUSED)

    if not (fooocus_dir / "fooocus_version.py").is_file():
        raise InstallError(
            f"{fooocus_dir} has no fooocus_version.py: not a Fooocus checkout.", EXIT_REFUSED
        )

    version = read_fooocus_version(fooocus_dir)
    if version is None:
        raise InstallError(
            f"{fooocus_dir}/fooocus_version.py has no version = '...' line: "
            "not a Fooocus checkout.",
            EXIT_REFUSED,
        )
    if version != FOOOCUS_VERSION:
        raise InstallError(
            f"{fooocus_dir} is Fooocus {version}; this plugin needs {FOOOCUS_VERSION}.",
            EXIT_REFUSED,
        )

    missing = [name for name in REQUIRED_FILES if not (fooocus_dir / name).is_file()]
    if missing:
        raise InstallError(
            f"{fooocus_dir} says Fooocus {version} but has no {', '.join(missing)}: "
            "not a complete Fooocus checkout.",
            EXIT_REFUSED,
        )


def validate_source(source: Path) -> None:
    for name in ("__init__.py", "activation.py"):
        if not (source / name).is_file():
            raise InstallError(f"The plugin source {source} has no {name}; is this repo complete?")


# --- subprocesses -------------------------------------------------------------------------


def run_quietly(command: list[str], what: str) -> str:
    """Run a command and return its stdout; raise one sentence if it cannot run or fails."""
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except OSError as error:
        raise InstallError(f"Could not run {command[0]} to {what}: {error.strerror}.") from None

    if result.returncode != 0:
        raise InstallError(f"Could not {what}: {main_complaint(result.stderr or result.stdout)}.")
    return result.stdout


def main_complaint(output: str) -> str:
    """The line of a tool's output that says what went wrong: git's first fatal/error line,
    else the last line (a Python traceback ends with the exception)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        for prefix in ("fatal:", "error:"):
            if line.startswith(prefix):
                return line[len(prefix):].strip().rstrip(".")
    return lines[-1].rstrip(".") if lines else "no output"


def find_purelib(python: str) -> Path:
    script = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    output = run_quietly([python, "-c", script], f"find site-packages of {python}")
    return Path(output.strip())


def installed_versions(python: str) -> dict[str, str | None]:
    """Versions of WATCHED_PACKAGES in the target Python, None where not installed."""
    script = (
        "import json, sys\n"
        "from importlib import metadata\n"
        "def version(name):\n"
        "    try:\n"
        "        return metadata.version(name)\n"
        "    except metadata.PackageNotFoundError:\n"
        "        return None\n"
        "print(json.dumps({name: version(name) for name in sys.argv[1:]}))\n"
    )
    output = run_quietly([python, "-c", script, *WATCHED_PACKAGES], f"read packages of {python}")
    return json.loads(output)


def resolve_python(python: str) -> str:
    """An absolute path to the interpreter; symlinks are kept because venvs rely on them."""
    return os.path.abspath(shutil.which(python) or python)


# --- clone --------------------------------------------------------------------------------


def clone(git_url: str, fooocus_dir: Path) -> None:
    if shutil.which("git") is None:
        raise InstallError(
            f"{fooocus_dir} does not exist and git is not installed to clone Fooocus into it."
        )

    log.info("Cloning Fooocus %s from %s into %s ...", FOOOCUS_TAG, git_url, fooocus_dir)
    command = ["git", "-c", "advice.detachedHead=false", "clone", "--branch", FOOOCUS_TAG]
    run_quietly([*command, "--", git_url, str(fooocus_dir)], f"clone {git_url}")


# --- files --------------------------------------------------------------------------------


def copy_package(source: Path, destination: Path) -> None:
    """Replace destination wholesale with a copy of source, without bytecode caches."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def install_package(repo: PluginRepo, destination: Path) -> None:
    """The package, with the repo's patches/ inside it as `patches/`."""
    copy_package(repo.source, destination)
    if repo.patches is not None and repo.patches.is_dir():
        shutil.copytree(repo.patches, destination / "patches")


def pth_content(extensions_dir: Path) -> str:
    return f"{extensions_dir}\n{PTH_IMPORT_LINE}\n"


def pth_target(pth: Path) -> Path | None:
    """The extensions folder an existing fooocus_api.pth points at."""
    try:
        first_line = pth.read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return Path(first_line.strip())


def write_pth(purelib: Path, extensions_dir: Path) -> Path:
    pth = purelib / PTH_NAME
    previous = pth_target(pth)
    if previous is not None and previous != extensions_dir:
        log.warning("%s pointed at %s; it now points at %s.", pth, previous, extensions_dir)

    write_text_atomically(pth, pth_content(extensions_dir))
    return pth


def write_text_atomically(path: Path, text: str) -> None:
    # Every Python start in the target environment reads the .pth: never leave half a file.
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


def read_record(path: Path) -> dict[str, object] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def make_record(
    fooocus_dir: Path, python: str, source: Path, created_extensions_dir: bool
) -> dict[str, object]:
    return {
        "fooocus_dir": str(fooocus_dir),
        "python": python,
        "plugin_source": str(source),
        "installed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "created_extensions_dir": created_extensions_dir,
    }


def write_record(record: dict[str, object], paths: list[Path]) -> None:
    text = json.dumps(record, indent=2) + "\n"
    for path in paths:
        path.write_text(text, encoding="utf-8")


# --- dependencies -------------------------------------------------------------------------


def release_tuple(version: str) -> tuple[int, ...]:
    """The leading numeric release of a version string: '0.38.0rc1' -> (0, 38, 0)."""
    match = re.match(r"\d+(\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def breaking_packages(versions: dict[str, str | None]) -> dict[str, str]:
    """The installed packages, with versions, known to break gradio 3.41.2."""
    return {
        name: version
        for name, version in versions.items()
        if name in BREAKING_VERSIONS
        and version is not None
        and release_tuple(version) >= BREAKING_VERSIONS[name]
    }


def read_pins(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def dependency_warning(
    versions: dict[str, str | None], pins: dict[str, str], will_install: bool
) -> str | None:
    """One warning sentence if the target Python has versions that break gradio 3.41.2."""
    broken = breaking_packages(versions)
    if not broken:
        return None

    found = " and ".join(f"{name} {version}" for name, version in sorted(broken.items()))
    pinned = ", ".join(f"{name}=={pins[name]}" for name in sorted(broken) if name in pins)
    target = f" ({pinned})" if pinned else " in requirements.txt"
    if will_install:
        action = f"--deps will pin them to the working versions{target}"
    else:
        action = f"re-run with --deps to pin them to the working versions{target}"
    return f"{found} break gradio 3.41.2 (lllyasviel/Fooocus#4180); {action}."


def pip_install_command(python: str, requirements: Path, *more: Path) -> list[str]:
    files = [argument for path in (requirements, *more) for argument in ("-r", str(path))]
    return [python, "-m", "pip", "install", *files]


def pip_check_command(python: str) -> list[str]:
    return [python, "-m", "pip", "check"]


def install_dependencies(python: str, requirements: Path, *more: Path) -> None:
    """pip install requirements.txt (pip's progress is shown), then report pip check."""
    log.info("Installing %s into %s ...", " and ".join(map(str, (requirements, *more))), python)
    command = pip_install_command(python, requirements, *more)
    try:
        result = subprocess.run(command)
    except OSError as error:
        raise InstallError(f"Could not run {python} to install dependencies: {error.strerror}.")
    if result.returncode != 0:
        raise InstallError(
            f"pip install -r {requirements} failed in {python} (exit code {result.returncode}); "
            "see pip's output above."
        )

    check = subprocess.run(pip_check_command(python), capture_output=True, text=True)
    if check.returncode == 0:
        log.info("pip check: no broken requirements.")
    else:
        problems = (check.stdout + check.stderr).strip().replace("\n", "; ")
        log.warning("pip check found conflicts in %s: %s", python, problems)


# --- install / uninstall ------------------------------------------------------------------


def install(
    fooocus_dir: Path,
    repo: PluginRepo,
    python: str,
    git_url: str,
    with_deps: bool,
    dry_run: bool,
    with_cluster: bool = False,
) -> None:
    validate_source(repo.source)
    if with_deps and not repo.requirements.is_file():
        raise InstallError(f"--deps needs {repo.requirements}, which does not exist.")
    extra = cluster_requirements(repo) if with_cluster else []

    if not fooocus_dir.exists():
        if dry_run:
            log.info("Would clone Fooocus %s from %s into %s.", FOOOCUS_TAG, git_url, fooocus_dir)
            log.info("Would then install %s into it (nothing else checked).", PACKAGE_NAME)
            return
        clone(git_url, fooocus_dir)
    validate(fooocus_dir)

    extensions_dir = fooocus_dir / "extensions"
    destination = extensions_dir / PACKAGE_NAME
    if not os.access(fooocus_dir, os.W_OK) or (
        extensions_dir.exists() and not os.access(extensions_dir, os.W_OK)
    ):
        raise InstallError(f"Cannot write to {extensions_dir}: permission denied.")

    purelib = find_purelib(python)
    warn_about_dependencies(python, repo.requirements, with_deps)

    already_installed = destination.exists()
    previous = read_record(destination / RECORD_NAME) if already_installed else None
    created_extensions_dir = (
        bool(previous.get("created_extensions_dir")) if previous else not extensions_dir.exists()
    )

    if dry_run:
        log.info("Would copy %s to %s.", repo.source, destination)
        log.info("Would write %s pointing at %s.", purelib / PTH_NAME, extensions_dir)
        log.info("Would write %s and %s.", destination / RECORD_NAME, repo.record)
        if with_deps:
            log.info("Would run: %s",
                     " ".join(pip_install_command(python, repo.requirements, *extra)))
            log.info("Would run: %s", " ".join(pip_check_command(python)))
        return

    install_package(repo, destination)
    write_pth(purelib, extensions_dir)
    record = make_record(fooocus_dir, python, repo.source, created_extensions_dir)
    write_record(record, [destination / RECORD_NAME, repo.record])

    if already_installed:
        log.info("%s already installed in %s, refreshed.", PACKAGE_NAME, fooocus_dir)
    else:
        log.info("Installed %s into %s.", PACKAGE_NAME, fooocus_dir)
    log.info("Python %s will load it from %s.", python, purelib / PTH_NAME)

    if with_deps:
        install_dependencies(python, repo.requirements, *extra)


def cluster_requirements(repo: PluginRepo) -> list[Path]:
    """requirements-cluster.txt (redis-py and psycopg, for --api-cluster and
    --api-database-url), which must exist."""
    path = repo.cluster_requirements
    if path is None or not path.is_file():
        raise InstallError(f"--cluster needs {path or 'requirements-cluster.txt'}, which does "
                           "not exist.")
    return [path]


def warn_about_dependencies(python: str, requirements: Path, with_deps: bool) -> None:
    pins = read_pins(requirements) if requirements.is_file() else {}
    warning = dependency_warning(installed_versions(python), pins, will_install=with_deps)
    if warning:
        log.warning(warning)


def uninstall(fooocus_dir: Path, repo: PluginRepo, python: str | None, dry_run: bool) -> None:
    """Remove what install added; user data under outputs/ is never touched."""
    if not fooocus_dir.is_dir():
        raise InstallError(f"{fooocus_dir} is not a folder; there is nothing to uninstall.")

    extensions_dir = fooocus_dir / "extensions"
    destination = extensions_dir / PACKAGE_NAME
    record = read_record(destination / RECORD_NAME) or {}
    purelib = find_purelib(python or str(record.get("python") or sys.executable))
    verb = "Would remove" if dry_run else "Removed"

    if destination.exists():
        if not dry_run:
            shutil.rmtree(destination)
        log.info("%s %s.", verb, destination)
    else:
        log.info("%s is not installed in %s.", PACKAGE_NAME, fooocus_dir)

    if record.get("created_extensions_dir") and extensions_dir.is_dir():
        others = [entry for entry in extensions_dir.iterdir() if entry.name != PACKAGE_NAME]
        if not others:
            if not dry_run:
                extensions_dir.rmdir()
            log.info("%s %s (install created it).", verb, extensions_dir)

    remove_pth(purelib / PTH_NAME, extensions_dir, dry_run)
    remove_repo_record(repo.record, fooocus_dir, dry_run)

    if (fooocus_dir / "outputs").exists():
        log.info("Left your images and history in %s untouched.", fooocus_dir / "outputs")


def remove_pth(pth: Path, extensions_dir: Path, dry_run: bool) -> None:
    target = pth_target(pth)
    if target is None:
        return
    if target != extensions_dir:
        log.info("Left %s: it belongs to %s.", pth, target)
        return

    if not dry_run:
        pth.unlink()
    log.info("%s %s.", "Would remove" if dry_run else "Removed", pth)


def remove_repo_record(path: Path, fooocus_dir: Path, dry_run: bool) -> None:
    record = read_record(path)
    if record is None or record.get("fooocus_dir") != str(fooocus_dir):
        return

    if not dry_run:
        path.unlink()
    log.info("%s %s.", "Would remove" if dry_run else "Removed", path)


# --- command line -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="install.py",
        description=f"Install the {PACKAGE_NAME} REST API plugin into Fooocus {FOOOCUS_VERSION}.",
        epilog="Exit codes: 0 done, 1 error, 2 PATH is not Fooocus 2.5.5 or bad arguments.",
    )
    parser.add_argument(
        "path",
        metavar="PATH",
        help=f"the Fooocus {FOOOCUS_VERSION} checkout; if it does not exist, "
        f"Fooocus is cloned there at tag {FOOOCUS_TAG}",
    )
    parser.add_argument(
        "--git-url",
        default=DEFAULT_GIT_URL,
        help="where to clone Fooocus from when PATH does not exist (default: %(default)s)",
    )
    parser.add_argument(
        "--python",
        metavar="PY",
        help="the Python that runs Fooocus; the .pth file goes into its site-packages "
        "(default: the Python running this script; on --uninstall, the one recorded at install)",
    )
    parser.add_argument(
        "--deps",
        action="store_true",
        help="also run 'PY -m pip install -r requirements.txt' and 'PY -m pip check'",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="with --deps, also install requirements-cluster.txt (redis-py and psycopg, "
        "needed for --api-cluster and --api-database-url)",
    )
    parser.add_argument(
        "--uninstall",
        action="store_true",
        help="remove the plugin, its .pth file and install record from PATH; keeps PATH/outputs",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be done without changing anything",
    )
    return parser


class UserFormatter(logging.Formatter):
    """Plain messages; warnings and errors say so in front."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"error: {message}"
        if record.levelno >= logging.WARNING:
            return f"warning: {message}"
        return message


def main(argv: list[str] | None = None, repo: PluginRepo | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.uninstall and args.deps:
        parser.error("--deps cannot be combined with --uninstall")
    if args.cluster and not args.deps:
        parser.error("--cluster goes with --deps: python install.py PATH --deps --cluster")
    repo = repo or PluginRepo.at(Path(__file__).resolve().parent)
    fooocus_dir = Path(args.path).expanduser().resolve()

    handler = logging.StreamHandler()
    handler.setFormatter(UserFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        if args.uninstall:
            python = resolve_python(args.python) if args.python else None
            uninstall(fooocus_dir, repo, python, args.dry_run)
        else:
            python = resolve_python(args.python or sys.executable)
            install(fooocus_dir, repo, python, args.git_url, args.deps, args.dry_run,
                    with_cluster=args.cluster)
    except InstallError as error:
        log.error(str(error))
        return error.exit_code
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        log.error("Could not change%s: %s.", where, error.strerror or error)
        return EXIT_ERROR
    finally:
        log.removeHandler(handler)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
