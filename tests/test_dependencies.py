"""The plugin's pins resolve together with gradio 3.41.2 to a web stack that works.

pip resolves (without installing) Fooocus's gradio pin plus requirements.txt in
a throwaway virtual environment; the result must hold starlette below 0.38,
where gradio 3.41.2 still serves its page (lllyasviel/Fooocus#4180).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def resolve(tmp_path: Path, *requirements: str) -> dict[str, str]:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    report = tmp_path / "report.json"
    run = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--dry-run",
                          "--quiet", "--disable-pip-version-check", "--report", str(report),
                          *requirements], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    installs = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in installs}


def test_pins_resolve_with_gradio_3_41_2_to_the_working_web_stack(tmp_path):
    versions = resolve(tmp_path, "gradio==3.41.2", "-r", str(REPOSITORY / "requirements.txt"))

    assert versions["gradio"] == "3.41.2"
    assert versions["fastapi"] == "0.112.0"
    assert versions["starlette"] == "0.37.2"
    assert versions["pydantic"] == "2.8.2"
    assert versions["uvicorn"] == "0.30.5"
