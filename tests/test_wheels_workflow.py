"""The GitHub Actions workflows, checked where they cannot run.

wheels.yml builds the macOS and Windows wheels; release.yml, on a tag v*,
builds those (by calling wheels.yml), the sdist and the Linux wheels, and
publishes them to PyPI. GitHub's hosted runners run them; this machine can
only hold them to what the project needs: valid YAML, the three targets each
on a native runner, Go from go.mod, one py3-none wheel per target built on
one CPython, a test command that runs test files which exist and fails when
the library is missing, and a release that publishes only what passed
`twine check`, through trusted publishing, for a tag that names the version.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from conftest import ROOT

WORKFLOWS = os.path.join(ROOT, ".github", "workflows")
WORKFLOW = os.path.join(WORKFLOWS, "wheels.yml")
RELEASE = os.path.join(WORKFLOWS, "release.yml")

# The runner labels of each target: Intel and Apple silicon macOS, x64 Windows.
TARGETS = {
    "macos-15-intel": "x86_64",
    "macos-15": "arm64",
    "windows-latest": "AMD64",
}


def load(path: str) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        pytest.fail("PyYAML is needed to check the workflows: pip install pyyaml")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return load(WORKFLOW)


@pytest.fixture(scope="module")
def release() -> dict[str, Any]:
    return load(RELEASE)


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
    assert {"workflow_dispatch", "pull_request", "workflow_call"} <= set(on)
    assert "push" not in on  # a tag runs release.yml, which calls this: the wheels are built once
    for path in on["pull_request"]["paths"]:
        if "*" not in path:
            assert os.path.exists(os.path.join(ROOT, path)), path


def test_each_target_builds_on_its_native_runner(job: dict[str, Any]) -> None:
    assert job["runs-on"] == "${{ matrix.os }}"
    include = job["strategy"]["matrix"]["include"]
    assert {m["os"]: m["archs"] for m in include} == TARGETS
    assert job["strategy"]["fail-fast"] is False  # one platform's failure hides no other's


def test_go_comes_from_go_mod(job: dict[str, Any]) -> None:
    go_from_go_mod(job)
    steps = [s.get("uses", "").split("@")[0] for s in job["steps"]]
    assert steps.index("actions/setup-go") < steps.index("pypa/cibuildwheel")


def go_from_go_mod(job: dict[str, Any]) -> None:
    go = step_using(job, "actions/setup-go")
    path = go["with"]["go-version-file"]
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        assert re.search(r"^go 1\.\d+", f.read(), re.M), f"{path} names no Go version"


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


# --- release.yml ---------------------------------------------------------------


def test_a_release_runs_on_a_version_tag_only(release: dict[str, Any]) -> None:
    assert release[True] == {"push": {"tags": ["v*"]}}
    assert release["permissions"] == {"contents": "read"}  # only the publish job gets a token


def test_the_release_builds_the_macos_and_windows_wheels_with_wheels_yml(release: dict[str, Any]) -> None:
    assert release["jobs"]["macos-windows"] == {"uses": "./.github/workflows/wheels.yml"}


def test_the_release_builds_the_sdist_and_linux_wheels_with_ci_wheels_py(release: dict[str, Any]) -> None:
    job = release["jobs"]["linux"]
    go_from_go_mod(job)
    runs = [s["run"] for s in job["steps"] if "run" in s and s.get("shell") != "python"]
    # the sdist, the Linux wheels built from it, twine check (macOS and Windows: wheels.yml's)
    assert runs == ["python .ci/wheels.py --out dist --target linux"]
    assert os.path.isfile(os.path.join(ROOT, ".ci", "wheels.py"))
    assert step_using(job, "actions/upload-artifact")["with"]["path"] == "dist/tiny_mp_cache-*"


def test_the_tag_must_name_the_packages_version(release: dict[str, Any]) -> None:
    check = next(s for s in release["jobs"]["linux"]["steps"] if s.get("name") == "The tag names the package's version")
    assert check["shell"] == "python"
    compile(check["run"], "check", "exec")
    assert 'tag == f"v{__version__}"' in check["run"] and "GITHUB_REF_NAME" in check["run"]


def test_publish_uploads_every_build_after_twine_check_by_trusted_publishing(release: dict[str, Any]) -> None:
    job = release["jobs"]["publish"]
    assert set(job["needs"]) == {"macos-windows", "linux"}
    assert job["permissions"] == {"id-token": "write"}  # PyPI's trusted publishing: no stored token
    assert job["environment"] == "pypi"
    download = step_using(job, "actions/download-artifact")["with"]
    assert "name" not in download and "pattern" not in download  # every artifact: wheels-* and dist-linux
    assert download["merge-multiple"] is True
    uses = [s.get("uses", "").split("@")[0] for s in job["steps"]]
    check = next(i for i, s in enumerate(job["steps"]) if "twine check" in s.get("run", ""))
    publish = step_using(job, "pypa/gh-action-pypi-publish")
    assert check < uses.index("pypa/gh-action-pypi-publish")
    assert f"{download['path']}/*" in job["steps"][check]["run"]
    assert publish["uses"].split("@")[1] == "release/v1"
    assert publish["with"] == {"packages-dir": download["path"]}  # no password: the OIDC token
