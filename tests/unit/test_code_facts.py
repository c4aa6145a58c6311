"""hack/code-facts.py, the size facts of issue 15, on a small package made for the test: it names the
long module, the long function and the import cycle (a local import counts), and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "code-facts.py"


def _facts(package: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--package", str(package), "--no-duplicates"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_names_long_modules_long_functions_and_cycles(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (pkg / "a.py").write_text(f"from pkg.sub import b\n\n\ndef long():\n{body}\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("from pkg.sub import b\n" + "\n" * 401)
    out = _facts(pkg)
    assert "modules over 400 lines: 1 (of 5)" in out and "pkg/c.py" in out
    assert "functions over 60 lines: 1" in out and "pkg/a.py:4 long" in out
    assert "import cycles: 1\n  pkg.a <-> pkg.sub.b\n" in out


def test_a_clean_package_has_nothing_to_report(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("X = 1\n")
    out = _facts(pkg)
    assert "modules over 400 lines: 0 (of 3)" in out
    assert "functions over 60 lines: 0" in out
    assert "import cycles: 0" in out
