"""The same settings through the UI and through the API give identical AsyncTasks.

The UI side is Fooocus's own webui.py (the stand-in's in CI; the real one when
FOOOCUS_DIR and FOOOCUS_PY are set): the default value of every control in its
`ctrls` list, as Generate sends them when only a prompt was typed.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from test_arguments import fooocus_targets, machine_flags

PROBE = Path(__file__).resolve().parent / "probe" / "ui_task.py"


@pytest.mark.parametrize("fooocus_dir, python", fooocus_targets())
@pytest.mark.parametrize("flags", [[], ["--disable-image-log", "--disable-metadata"]],
                         ids=["no flags", "--disable-image-log --disable-metadata"])
def test_ui_defaults_and_an_api_request_with_the_same_prompt_build_the_same_task(
        fooocus_dir, python, flags):
    run = subprocess.run([python, str(PROBE), fooocus_dir, "a red fox", "1234567",
                          *machine_flags(fooocus_dir), *flags],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    tasks = json.loads(run.stdout.strip().splitlines()[-1])

    differences = {name: (value, tasks["api"].get(name)) for name, value in tasks["ui"].items()
                   if tasks["api"].get(name) != value}
    assert differences == {}
    assert tasks["ui"]["prompt"] == "a red fox"
