"""The macOS and Windows wheels workflow (.github/workflows/wheels.yml), checked where it cannot run.

GitHub's hosted runners run it; this machine can only hold it to what the
project needs: valid YAML, the three targets each on a native runner, Go from
go.mod, one py3-none wheel per target built on one CPython, and a test
command that runs test files which exist and fails when the library is missing.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from conftest import ROOT

WORKFLOW = os.path.join(ROOT, ".github", "workflows", "wheels.yml")

# The runner labels of each target: Intel and Apple silicon macOS, x64 Windows.
TARGETS = {
    "macos-15-intel": "x86_64",
    "macos-15": "arm64",
    "windows-latest": "AMD64",
}


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        pytest.fail("PyYAML is needed to check the workflow: pip install pyyaml")
    with open(WORKFLOW, encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def job(workflow: dict[str, Any]) -> dict[str, Any]:
    assert list(workflow["jobs"]) == ["wheels"]
    return workflow["jobs"]["wheels"]


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    steps = [s for s in job["steps"] if s.get("uses", "").split("@")[0] == action]
    assert len(steps) == 1, f"want one step using {action}"
    return steps[0]


def test_triggers(workflow: dict[str, Any]) -> None:
    on = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"workflow_dispatch", "pull_request", "push"} <= set(on)
    for path in on["pull_request"]["paths"]:
        if "*" not in path:
            assert os.path.exists(os.path.join(ROOT, path)), path


def test_each_target_builds_on_its_native_runner(job: dict[str, Any]) -> None:
    assert job["runs-on"] == "${{ matrix.os }}"
    include = job["strategy"]["matrix"]["include"]
    assert {m["os"]: m["archs"] for m in include} == TARGETS
    assert job["strategy"]["fail-fast"] is False  # one platform's failure hides no other's


def test_go_comes_from_go_mod(job: dict[str, Any]) -> None:
    go = step_using(job, "actions/setup-go")
    path = go["with"]["go-version-file"]
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        assert re.search(r"^go 1\.\d+", f.read(), re.M), f"{path} names no Go version"
    steps = [s.get("uses", "").split("@")[0] for s in job["steps"]]
    assert steps.index("actions/setup-go") < steps.index("pypa/cibuildwheel")


def test_one_wheel_per_target_on_one_cpython(job: dict[str, Any]) -> None:
    cibw = step_using(job, "pypa/cibuildwheel")
    assert re.fullmatch(r"v3\.\d+(\.\d+)?", cibw["uses"].split("@")[1])
    env = cibw["env"]
    assert re.fullmatch(r"cp3\d+-\*", env["CIBW_BUILD"]), env["CIBW_BUILD"]
    assert env["CIBW_ARCHS"] == "${{ matrix.archs }}"
    assert "MACOSX_DEPLOYMENT_TARGET=12.0" in env["CIBW_ENVIRONMENT_MACOS"].split()  # Go's minimum macOS


@pytest.mark.parametrize("key", ["CIBW_TEST_COMMAND", "CIBW_TEST_COMMAND_MACOS"])
def test_test_command_runs_existing_suites(job: dict[str, Any], key: str) -> None:
    env = step_using(job, "pypa/cibuildwheel")["env"]
    words = env[key].split()
    assert words[:3] == ["python", "-m", "pytest"]
    assert {"pytest", "pytest-timeout", "pyyaml"} <= set(env["CIBW_TEST_REQUIRES"].split())
    files = [w for w in words if w.startswith("{project}/")]
    assert "{project}/tests/test_platform.py" in files
    for f in files:
        assert os.path.isfile(os.path.join(ROOT, f[len("{project}/"):])), f
    assert "TINY_MP_CACHE_REQUIRE_GO=1" in env["CIBW_TEST_ENVIRONMENT"].split()


def test_wheel_is_checked_and_kept(job: dict[str, Any]) -> None:
    check = next(s for s in job["steps"] if s.get("name") == "Check the wheel's tag and library")
    assert check["shell"] == "python"
    compile(check["run"], "check", "exec")  # valid Python
    for needle in ("-py3-none-", "libtinympcache.dylib", "libtinympcache.dll"):
        assert needle in check["run"]
    upload = step_using(job, "actions/upload-artifact")
    assert upload["with"]["path"] == "wheelhouse/*.whl"
