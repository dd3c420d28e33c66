"""The tests and benchmarks import the source folders only by their package names (``spinerad.*``).

``kernels/``, ``models/`` and ``service/`` are installed as ``spinerad.kernels``, ``spinerad.models`` and
``spinerad.service`` (README, Layout). Under pytest the repository root is on ``sys.path`` (``tests`` is a
package), so ``import kernels`` would work there by accident and test another module object than the one
the product uses. ``python .ci/fix_test_imports.py`` rewrites such imports.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = {"kernels", "models", "service", "protos"}


def _folder_imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in SOURCE_FOLDERS:
                yield f"{path.relative_to(ROOT)}:{node.lineno}: {name}"


def test_tests_and_benchmarks_import_only_spinerad_names():
    files = sorted(p for folder in ("tests", "bench") for p in (ROOT / folder).rglob("*.py"))
    assert len(files) > 50, "the test tree was not found"
    bad = [entry for path in files for entry in _folder_imports(path)]
    assert bad == [], "import these as spinerad.* (python .ci/fix_test_imports.py):\n" + "\n".join(bad)
