"""After install.py, Fooocus's own entry points accept --api; without it nothing changes."""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from fooocus_server import REPOSITORY, STANDIN, FooocusServer, free_port, install


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A stand-in checkout with the plugin installed by install.py into a venv of its own."""
    folder = tmp_path_factory.mktemp("activation")
    checkout = folder / "Fooocus"
    shutil.copytree(STANDIN, checkout, ignore=shutil.ignore_patterns("__pycache__", "outputs"))
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = str(venv / "bin" / "python")
    # The new venv sees the test environment's packages through a path file read first.
    purelib = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                   "['purelib'])"], capture_output=True, text=True,
                                  check=True).stdout.strip())
    (purelib / "00_test_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    repo = install.PluginRepo.at(REPOSITORY)
    repo = install.PluginRepo(repo.source, repo.requirements, folder / "record.json", repo.patches)
    assert install.main([str(checkout), "--python", python], repo=repo) == 0
    return checkout, python


class EntryPointServer(FooocusServer):
    """Fooocus started through one of its own entry points, not launch_api.py."""

    def __init__(self, checkout: Path, python: str, entry: str, flags: list[str]) -> None:
        super().__init__(checkout, free_port(), flags)
        self.python = python
        self.entry = entry

    def command(self) -> list[str]:
        return [self.python, self.entry, "--listen", "127.0.0.1", "--port", str(self.port),
                *self.flags]


def run_entry(installed, entry: str, flags: list[str]) -> tuple[int, int]:
    checkout, python = installed
    server = EntryPointServer(checkout, python, entry, flags)
    server.start(ready_path="/")
    try:
        return (httpx.get(server.url + "/").status_code,
                httpx.get(server.url + "/tasks").status_code)
    finally:
        server.stop()


@pytest.mark.parametrize("entry", ["launch.py", "entry_with_update.py"])
def test_fooocus_entry_points_serve_the_api_with_the_api_flag(installed, entry):
    assert run_entry(installed, entry, ["--api"]) == (200, 200)


def test_without_the_api_flag_fooocus_serves_only_its_ui(installed):
    assert run_entry(installed, "launch.py", []) == (200, 404)
