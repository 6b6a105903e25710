"""Run every ```python block of README.md and docs/*.md as a script, each in a fresh interpreter.

    python tests/readme_snippets.py [FILE.md ...]    # default: README.md and docs/*.md

Each block runs as its own file in a temporary directory, with a timeout,
and must exit 0 with no traceback on stderr. Prints one line per block and
"ALL OK" at the end; exits 1 if any block failed. Blocks that serve on port
5002 need it free. A ```py block is a fragment that cannot run here (a
gunicorn config, a Redis Cluster's address): shown as Python, not run.
"""

from __future__ import annotations

import os
import glob
import re
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 60  # seconds per block


def documents() -> list[str]:
    """README.md and the documentation site's pages: every file whose blocks must run."""
    return [os.path.join(ROOT, "README.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]


def snippets(readme: str) -> list[tuple[int, str]]:
    """(line number, code) of each ```python block."""
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)
    ]


def run_block(path: str, cwd: str) -> tuple[bool, str]:
    """Run one block: (passed, what it printed). It runs in a session of its
    own, which is killed afterwards, so no server it started outlives it."""
    proc = subprocess.Popen(
        [sys.executable, path], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return False, f"timed out after {TIMEOUT}s\n{out}{err}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    ok = proc.returncode == 0 and "Traceback" not in err
    return ok, f"exit {proc.returncode}\n{out}{err}"


def main() -> int:
    files = sys.argv[1:] or documents()
    blocks = [(path, line, code) for path in files for line, code in snippets(path)]
    if not blocks:
        print(f"FAIL: no python blocks in {', '.join(files)}")
        return 1
    failed = 0
    for path, line, code in blocks:
        name = os.path.relpath(path, ROOT)
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, f"{os.path.basename(path).replace('.', '_')}_line_{line}.py")
            with open(script, "w", encoding="utf-8") as f:
                f.write(code)
            ok, detail = run_block(script, tmp)
        print(f"{'ok  ' if ok else 'FAIL'} {name} line {line}")
        if not ok:
            failed += 1
            print(detail)
    print("ALL OK" if not failed else f"{failed} of {len(blocks)} blocks FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
