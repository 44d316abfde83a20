"""The package as a user installs it: a wheel (not an editable checkout) holds the suite's own
files and runs from a folder outside the checkout, with the bundle wherever the user points."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(root),
         str(REPO)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    (wheel,) = root.glob("*.whl")
    site = root / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(site)
    return wheel, names, site


def _suite(site: Path, cwd: Path, *argv: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("SUITE_BUNDLE", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, "-m", "suite", *argv],
        cwd=cwd, env={**environ, "PYTHONPATH": str(site), **env},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_the_wheel_holds_task_specs_studies_profiles_template_and_claims(installed):
    _, names, _ = installed
    for path in (
        "suite/_resources/tasks/gsm8k.yaml",
        "suite/_resources/tasks/profiles/quick.yaml",
        "suite/_resources/tasks/studies/alignment.yaml",
        "suite/_resources/reports/templates/report.html.j2",
        "suite/_resources/reference/paper.yaml",
        "suite/_resources/reference/data_sources.yaml",
    ):
        assert path in names, path
    assert not any(n.endswith(".safetensors") for n in names)  # models are the bundle, not data


def test_the_wheel_installs_the_pth_that_makes_specdec_known_to_lm_eval(installed):
    _, names, site = installed
    assert "suite-lm-eval.pth" in names  # at the wheel's root: lands in site-packages
    line = (site / "suite-lm-eval.pth").read_text().strip()
    assert line.startswith("import ") and "suite_lm_eval_plugin" in line


def test_an_installed_suite_runs_outside_the_checkout_with_the_bundle_it_is_given(
    installed, tmp_path
):
    _, _, site = installed
    probe = _suite(site, tmp_path, "tasks")
    assert probe.returncode == 0, probe.stderr
    assert "gsm8k" in probe.stdout and "alpaca" in probe.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import suite.paths as p; print(p.PACKAGED, p.TASKS_DIR)"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.split()[0] == "True" and str(site) in where.stdout
    missing = _suite(site, tmp_path, "verify")
    assert missing.returncode == 2 and "--bundle" in missing.stderr
    assert "Traceback" not in missing.stderr
    given = _suite(site, tmp_path, "--bundle", str(REPO / "reference"), "verify")
    assert given.returncode == 0, given.stderr
    assert given.stdout.strip().endswith("0 problems")
    by_env = _suite(site, tmp_path, "verify", SUITE_BUNDLE=str(REPO / "reference"))
    assert by_env.returncode == 0 and by_env.stdout == given.stdout
    after = _suite(site, tmp_path, "verify", "--bundle", str(REPO / "reference"))
    assert after.returncode == 0 and after.stdout == given.stdout  # after the command too
    twice = _suite(site, tmp_path, "--bundle", "a", "verify", "--bundle=b")
    assert twice.returncode == 2 and "--bundle given 2 times" in twice.stderr


@pytest.mark.slow
def test_an_installed_suite_reproduces_the_smoke_profile_outside_the_checkout(installed, tmp_path):
    from suite.data import data_root

    _, _, site = installed
    out = tmp_path / "smoke"
    data = str(data_root().absolute())  # the child runs elsewhere: a relative root would move
    done = _suite(
        site, tmp_path, "reproduce", "--profile", "smoke", "--bundle", str(REPO / "reference"),
        "--out", str(out), "--quiet", SUITE_DATA_DIR=data, OMP_NUM_THREADS="1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "104 cells" in done.stdout and (out / "report.html").is_file()
    run = json.loads((out / "run.json").read_text())
    assert run["profile"] == "smoke"
