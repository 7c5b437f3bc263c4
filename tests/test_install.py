"""Specifications of install.py, run against scratch Fooocus checkouts and throwaway venvs.

Needs only git and Python; nothing touches the network (clones come from local bare repos).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import install  # noqa: E402
from install import PluginRepo, breaking_packages, dependency_warning, main  # noqa: E402

PTH_IMPORT = "import fooocus_api.activation as _fooocus_api; _fooocus_api.activate()"
WORKING_VERSIONS = {
    "starlette": "0.37.2",
    "fastapi": "0.112.0",
    "pydantic": "2.8.2",
    "uvicorn": "0.30.5",
    "gradio": "3.41.2",
}


# --- helpers ------------------------------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return result.stdout


def status(checkout: Path, *flags: str) -> str:
    return git(checkout, "status", "--porcelain", *flags)


def make_fooocus(path: Path, version: str = "2.5.5") -> Path:
    """A git checkout laid out like Fooocus, committed and tagged v<version>."""
    (path / "modules").mkdir(parents=True)
    (path / "fooocus_version.py").write_text(f"version = '{version}'\n")
    for name in ("launch.py", "webui.py", "args_manager.py", "modules/async_worker.py"):
        (path / name).write_text("# stand-in for Fooocus\n")
    (path / ".gitignore").write_text("__pycache__\n/extensions\n/outputs\n")

    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", f"Fooocus {version}")
    git(path, "tag", f"v{version}")
    return path


def venv_python(root: Path) -> str:
    folder = "Scripts" if os.name == "nt" else "bin"
    name = "python.exe" if os.name == "nt" else "python"
    return str(root / folder / name)


def purelib_of(python: str) -> Path:
    return install.find_purelib(python)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_one_sentence_error(stderr: str) -> None:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert errors[0].endswith(".") and errors[0] == stderr.strip().splitlines()[-1], stderr
    assert "Traceback" not in stderr


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Git that ignores the machine's config, so CI and laptops behave the same."""
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.invalid")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path.resolve()


@pytest.fixture
def fooocus(root: Path) -> Path:
    return make_fooocus(root / "Fooocus")


@pytest.fixture
def plugin_repo(root: Path) -> PluginRepo:
    """A stand-in for this repo: a tiny fooocus_api package and a requirements.txt."""
    repo = PluginRepo.at(root / "plugin")
    repo.source.mkdir(parents=True)
    (repo.source / "__init__.py").write_text("")
    (repo.source / "activation.py").write_text("def activate() -> None:\n    pass\n")
    (repo.source / "routes.py").write_text("ROUTES = []\n")
    (repo.source / "__pycache__").mkdir()
    (repo.source / "__pycache__" / "routes.cpython-311.pyc").write_bytes(b"bytecode")
    pins = "".join(f"{name}=={version}\n" for name, version in WORKING_VERSIONS.items())
    repo.requirements.write_text(pins)
    return repo


@pytest.fixture
def python(root: Path) -> str:
    venv.create(root / "venv", with_pip=False)
    return venv_python(root / "venv")


@pytest.fixture
def run(plugin_repo: PluginRepo, python: str, capsys: pytest.CaptureFixture[str]):
    """install.py's main against the stand-in repo and venv; returns (exit code, stderr)."""

    def run_main(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main([*argv, "--python", python], repo=plugin_repo)
        return code, capsys.readouterr().err

    return run_main


# --- install ------------------------------------------------------------------------------


def test_install_copies_the_package_without_bytecode(fooocus: Path, run) -> None:
    code, _ = run(str(fooocus))

    installed = fooocus / "extensions" / "fooocus_api"
    assert code == 0
    assert (installed / "routes.py").read_text() == "ROUTES = []\n"
    assert not (installed / "__pycache__").exists()


def test_pth_is_the_extensions_path_then_the_activation_import(
    fooocus: Path, run, python: str
) -> None:
    run(str(fooocus))

    lines = (purelib_of(python) / "fooocus_api.pth").read_text().splitlines()
    assert lines == [str(fooocus / "extensions"), PTH_IMPORT]


def test_target_python_activates_the_plugin_at_startup(fooocus: Path, run, python: str) -> None:
    run(str(fooocus))

    probe = "import sys; print('fooocus_api.activation' in sys.modules)"
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_install_records_checkout_python_and_source(
    fooocus: Path, run, python: str, plugin_repo: PluginRepo
) -> None:
    run(str(fooocus))

    record = json.loads((fooocus / "extensions" / "fooocus_api" / "install.json").read_text())
    assert record["fooocus_dir"] == str(fooocus)
    assert record["python"] == python
    assert record["plugin_source"] == str(plugin_repo.source)
    assert record["installed_at"]


def test_repo_side_record_matches_the_checkout_record(
    fooocus: Path, run, plugin_repo: PluginRepo
) -> None:
    run(str(fooocus))

    in_checkout = (fooocus / "extensions" / "fooocus_api" / "install.json").read_text()
    assert plugin_repo.record.read_text() == in_checkout


def test_install_leaves_git_status_unchanged(fooocus: Path, run) -> None:
    before = status(fooocus)

    run(str(fooocus))

    assert status(fooocus) == before == ""


def test_install_leaves_existing_checkout_history_untouched(fooocus: Path, run) -> None:
    (fooocus / "webui.py").write_text("# a local change after the tag\n")
    git(fooocus, "commit", "-q", "-am", "local work")
    refs_before = git(fooocus, "for-each-ref")
    head_before = git(fooocus, "rev-parse", "HEAD")

    run(str(fooocus), "--git-url", "file:///nonexistent/Fooocus.git")

    assert git(fooocus, "rev-parse", "HEAD") == head_before
    assert git(fooocus, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert git(fooocus, "for-each-ref") == refs_before
    assert not (fooocus / ".git" / "FETCH_HEAD").exists()


def test_reinstall_says_already_installed_refreshed(fooocus: Path, run) -> None:
    run(str(fooocus))

    code, stderr = run(str(fooocus))

    assert code == 0
    assert "already installed" in stderr and "refreshed" in stderr


def test_reinstall_gives_the_same_files(fooocus: Path, run, python: str) -> None:
    def installed_files() -> dict[str, bytes]:
        files = snapshot(fooocus / "extensions")
        record = json.loads(files.pop("fooocus_api/install.json"))
        del record["installed_at"]
        files["record"] = json.dumps(record).encode()
        files["pth"] = (purelib_of(python) / "fooocus_api.pth").read_bytes()
        return files

    run(str(fooocus))
    first = installed_files()
    run(str(fooocus))

    assert installed_files() == first


def test_reinstall_replaces_an_older_copy_wholesale(fooocus: Path, run) -> None:
    run(str(fooocus))
    stale = fooocus / "extensions" / "fooocus_api" / "removed_in_this_version.py"
    stale.write_text("")

    run(str(fooocus))

    assert not stale.exists()


# --- refusals and errors ------------------------------------------------------------------


def test_refuses_another_fooocus_version(root: Path, run) -> None:
    older = make_fooocus(root / "Fooocus-2.5.4", version="2.5.4")

    code, stderr = run(str(older))

    assert code == 2
    assert f"{older} is Fooocus 2.5.4; this plugin needs 2.5.5." in stderr
    assert not (older / "extensions").exists()


def test_refuses_a_folder_that_is_not_fooocus(root: Path, run) -> None:
    folder = root / "photos"
    folder.mkdir()

    code, stderr = run(str(folder))

    assert code == 2
    assert f"{folder} has no fooocus_version.py: not a Fooocus checkout." in stderr


def test_refuses_a_checkout_missing_webui(fooocus: Path, run) -> None:
    (fooocus / "webui.py").unlink()

    code, stderr = run(str(fooocus))

    assert code == 2
    assert "has no webui.py" in stderr


def test_refusal_is_one_sentence(root: Path, run) -> None:
    folder = root / "photos"
    folder.mkdir()

    _, stderr = run(str(folder))

    assert_one_sentence_error(stderr)


def test_fooocus_version_is_read_without_running_it(root: Path) -> None:
    checkout = root / "Fooocus"
    checkout.mkdir()
    marker = root / "executed"
    (checkout / "fooocus_version.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nversion = '2.5.5'\n"
    )

    assert install.read_fooocus_version(checkout) == "2.5.5"
    assert not marker.exists()


def test_missing_python_is_one_sentence(fooocus: Path, plugin_repo: PluginRepo, capsys) -> None:
    code = main([str(fooocus), "--python", str(fooocus / "no-such-python")], repo=plugin_repo)

    assert code == 1
    assert_one_sentence_error(capsys.readouterr().err)


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_checkout_is_one_sentence(fooocus: Path, run) -> None:
    fooocus.chmod(0o555)
    try:
        code, stderr = run(str(fooocus))
    finally:
        fooocus.chmod(0o755)

    assert code == 1
    assert_one_sentence_error(stderr)


def test_a_write_failure_midway_is_one_sentence(
    fooocus: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: Path, destination: Path, **_: object) -> None:
        raise PermissionError(13, "Permission denied", str(destination))

    monkeypatch.setattr(install.shutil, "copytree", refuse)

    code, stderr = run(str(fooocus))

    assert code == 1
    assert "Permission denied" in stderr
    assert_one_sentence_error(stderr)


# --- clone --------------------------------------------------------------------------------


@pytest.fixture
def bare_fooocus(root: Path) -> str:
    """A bare repo whose main branch has moved past v2.5.5, as upstream's has."""
    work = make_fooocus(root / "upstream")
    (work / "webui.py").write_text("# after the release\n")
    git(work, "commit", "-q", "-am", "after v2.5.5")
    git(root, "clone", "-q", "--bare", str(work), "Fooocus.git")
    return (root / "Fooocus.git").as_uri()


def test_missing_path_is_cloned_at_tag_v2_5_5(root: Path, bare_fooocus: str, run) -> None:
    target = root / "new" / "Fooocus"

    code, _ = run(str(target), "--git-url", bare_fooocus)

    assert code == 0
    assert git(target, "describe", "--tags", "--exact-match", "HEAD").strip() == "v2.5.5"
    assert (target / "extensions" / "fooocus_api" / "activation.py").is_file()


def test_clone_failure_is_one_sentence(root: Path, run) -> None:
    missing = (root / "nothing-here.git").as_uri()

    code, stderr = run(str(root / "Fooocus"), "--git-url", missing)

    assert code == 1
    assert_one_sentence_error(stderr)


def test_missing_git_is_one_sentence(root: Path, run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")

    code, stderr = run(str(root / "Fooocus"))

    assert code == 1
    assert "git is not installed" in stderr
    assert_one_sentence_error(stderr)


# --- uninstall ----------------------------------------------------------------------------


def test_uninstall_restores_git_status_including_ignored_files(fooocus: Path, run) -> None:
    before = status(fooocus, "--ignored")
    run(str(fooocus))

    code, _ = run("--uninstall", str(fooocus))

    assert code == 0
    assert status(fooocus, "--ignored") == before


def test_uninstall_removes_exactly_what_install_added(
    root: Path, fooocus: Path, run, plugin_repo: PluginRepo
) -> None:
    before = snapshot(root)
    run(str(fooocus))

    run("--uninstall", str(fooocus))

    assert snapshot(root) == before
    assert not plugin_repo.record.exists()


def test_uninstall_keeps_outputs_and_says_so(fooocus: Path, run) -> None:
    database = fooocus / "outputs" / "db.sqlite3"
    run(str(fooocus))
    database.parent.mkdir()
    database.write_bytes(b"history")

    _, stderr = run("--uninstall", str(fooocus))

    assert database.read_bytes() == b"history"
    assert str(fooocus / "outputs") in stderr


def test_uninstall_keeps_an_extensions_folder_that_was_there_before(
    fooocus: Path, run
) -> None:
    other = fooocus / "extensions" / "someone_else"
    other.mkdir(parents=True)
    run(str(fooocus))

    run("--uninstall", str(fooocus))

    assert other.is_dir()
    assert not (fooocus / "extensions" / "fooocus_api").exists()


def test_uninstall_keeps_an_empty_extensions_folder_that_was_there_before(
    fooocus: Path, run
) -> None:
    (fooocus / "extensions").mkdir()
    run(str(fooocus))

    run("--uninstall", str(fooocus))

    assert (fooocus / "extensions").is_dir()


def test_uninstall_keeps_extensions_added_after_install(fooocus: Path, run) -> None:
    run(str(fooocus))
    later = fooocus / "extensions" / "installed_later"
    later.mkdir()

    code, _ = run("--uninstall", str(fooocus))

    assert code == 0
    assert later.is_dir()


def test_uninstall_leaves_a_pth_that_points_at_another_checkout(
    root: Path, fooocus: Path, run, python: str
) -> None:
    other = make_fooocus(root / "Fooocus-other")
    run(str(fooocus))
    run(str(other))

    run("--uninstall", str(fooocus))

    lines = (purelib_of(python) / "fooocus_api.pth").read_text().splitlines()
    assert lines[0] == str(other / "extensions")


def test_uninstall_leaves_a_repo_record_that_points_at_another_checkout(
    root: Path, fooocus: Path, run, plugin_repo: PluginRepo
) -> None:
    other = make_fooocus(root / "Fooocus-other")
    run(str(fooocus))
    run(str(other))

    run("--uninstall", str(fooocus))

    assert json.loads(plugin_repo.record.read_text())["fooocus_dir"] == str(other)


# --- dry run and help ---------------------------------------------------------------------


def test_dry_run_install_changes_nothing(root: Path, fooocus: Path, run) -> None:
    before = snapshot(root)

    code, stderr = run(str(fooocus), "--dry-run")

    assert code == 0
    assert snapshot(root) == before
    assert "Would copy" in stderr and "fooocus_api.pth" in stderr


def test_dry_run_does_not_clone(root: Path, bare_fooocus: str, run) -> None:
    target = root / "Fooocus"

    code, stderr = run(str(target), "--git-url", bare_fooocus, "--dry-run")

    assert code == 0
    assert not target.exists()
    assert "Would clone" in stderr


def test_dry_run_uninstall_changes_nothing(root: Path, fooocus: Path, run) -> None:
    run(str(fooocus))
    before = snapshot(root)

    code, stderr = run("--uninstall", str(fooocus), "--dry-run")

    assert code == 0
    assert snapshot(root) == before
    assert "Would remove" in stderr


def test_help_describes_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])

    help_text = capsys.readouterr().out
    assert exit_info.value.code == 0
    for flag in ("PATH", "--git-url", "--python", "--deps", "--cluster", "--uninstall",
                 "--dry-run"):
        assert flag in help_text


# --- dependencies -------------------------------------------------------------------------


def test_working_versions_need_no_warning() -> None:
    assert dependency_warning(WORKING_VERSIONS, {}, will_install=False) is None


def test_missing_packages_need_no_warning() -> None:
    nothing = {name: None for name in WORKING_VERSIONS}

    assert dependency_warning(nothing, {}, will_install=False) is None


@pytest.mark.parametrize(
    ("name", "version"),
    [("starlette", "0.38.0"), ("starlette", "0.41.3"), ("fastapi", "0.113.0"),
     ("fastapi", "0.115.6"), ("starlette", "0.38.0rc1"), ("starlette", "1.0")],
)
def test_breaking_versions_are_detected(name: str, version: str) -> None:
    versions = {**WORKING_VERSIONS, name: version}

    assert breaking_packages(versions) == {name: version}


@pytest.mark.parametrize(
    ("name", "version"), [("starlette", "0.37.9"), ("fastapi", "0.112.4"), ("gradio", "4.0")]
)
def test_versions_below_the_break_are_accepted(name: str, version: str) -> None:
    assert breaking_packages({**WORKING_VERSIONS, name: version}) == {}


def test_warning_names_the_packages_and_the_upstream_issue() -> None:
    versions = {**WORKING_VERSIONS, "starlette": "0.41.3", "fastapi": "0.115.0"}

    warning = dependency_warning(versions, {}, will_install=True)

    assert warning is not None
    assert "starlette 0.41.3" in warning and "fastapi 0.115.0" in warning
    assert "lllyasviel/Fooocus#4180" in warning


def test_warning_with_deps_says_deps_will_pin_to_the_requirements() -> None:
    versions = {**WORKING_VERSIONS, "starlette": "0.41.3"}

    warning = dependency_warning(versions, {"starlette": "0.37.2"}, will_install=True)

    assert warning is not None
    assert "--deps will pin" in warning and "starlette==0.37.2" in warning


def test_warning_without_deps_says_to_rerun_with_deps() -> None:
    versions = {**WORKING_VERSIONS, "fastapi": "0.115.0"}

    warning = dependency_warning(versions, {}, will_install=False)

    assert warning is not None and "re-run with --deps" in warning


def test_install_warns_about_a_breaking_starlette_in_the_target_python(
    fooocus: Path, run, python: str
) -> None:
    dist_info = purelib_of(python) / "starlette-0.41.3.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: starlette\nVersion: 0.41.3\n"
    )

    code, stderr = run(str(fooocus))

    assert code == 0
    assert "warning: starlette 0.41.3 break" in stderr and "re-run with --deps" in stderr


def test_pip_install_command_uses_the_target_python_and_requirements() -> None:
    command = install.pip_install_command("/envs/fooocus/bin/python", Path("/r/requirements.txt"))

    assert command == ["/envs/fooocus/bin/python", "-m", "pip", "install", "-r",
                       "/r/requirements.txt"]


def test_pip_install_command_takes_every_requirements_file_given() -> None:
    command = install.pip_install_command("/py", Path("/r/requirements.txt"),
                                          Path("/r/requirements-cluster.txt"))

    assert command == ["/py", "-m", "pip", "install", "-r", "/r/requirements.txt",
                       "-r", "/r/requirements-cluster.txt"]


def test_deps_with_cluster_also_installs_the_cluster_requirements(
    fooocus: Path, plugin_repo: PluginRepo, run
) -> None:
    plugin_repo.cluster_requirements.write_text("psycopg[binary]==3.3.9\n")

    code, stderr = run(str(fooocus), "--deps", "--cluster", "--dry-run")

    assert code == 0
    assert f"-r {plugin_repo.requirements} -r {plugin_repo.cluster_requirements}" in stderr


def test_cluster_without_its_requirements_file_is_one_sentence(fooocus: Path, run) -> None:
    code, stderr = run(str(fooocus), "--deps", "--cluster", "--dry-run")

    assert code == 1
    assert_one_sentence_error(stderr)
    assert "requirements-cluster.txt" in stderr


def test_cluster_without_deps_is_refused(fooocus: Path, run) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(str(fooocus), "--cluster")

    assert exit_info.value.code == 2


def test_pip_check_command_uses_the_target_python() -> None:
    assert install.pip_check_command("/py") == ["/py", "-m", "pip", "check"]


def test_deps_failure_is_reported_in_one_sentence(fooocus: Path, run) -> None:
    code, stderr = run(str(fooocus), "--deps")  # the venv has no pip

    assert code == 1
    assert "pip install -r" in stderr and "failed" in stderr
    assert "Traceback" not in stderr


def test_deps_installs_requirements_then_reports_pip_check(
    root: Path, fooocus: Path, plugin_repo: PluginRepo, monkeypatch, capfd
) -> None:
    # ensurepip is bundled with Python, so this venv gets pip without the network;
    # the requirements are empty so pip resolves nothing online.
    venv.create(root / "venv-pip", with_pip=True)
    plugin_repo.requirements.write_text("# nothing to install offline\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")

    code = main(
        [str(fooocus), "--deps", "--python", venv_python(root / "venv-pip")], repo=plugin_repo
    )

    assert code == 0
    assert "pip check: no broken requirements." in capfd.readouterr().err
