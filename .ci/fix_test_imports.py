#!/usr/bin/env python3
"""Rewrite imports of the source folders by their folder names into their package names, in tests/ and bench/.

`kernels/`, `models/` and `service/` are installed as `spinerad.kernels`, `spinerad.models` and
`spinerad.service` (pyproject.toml's package-dir; `service/_generated/spinerad/v1` as `spinerad.v1`). Code
that imports them as `kernels...` works only by accident (the repository root on sys.path) and breaks
installed. This script rewrites such imports in place:

    from kernels.glcm import x          ->  from spinerad.kernels.glcm import x
    from service import client          ->  from spinerad.service import client
    import models                       ->  from spinerad import models
    import kernels as k                 ->  from spinerad import kernels as k
    from service._generated.spinerad.v1 import study_pb2  ->  from spinerad.v1 import study_pb2

and lists what it cannot rewrite safely (``import kernels.glcm``, dotted strings such as
``monkeypatch.setattr("kernels.glcm.x", ...)``) for a hand fix. tests/test_layout.py fails on any such import.

Usage: python .ci/fix_test_imports.py [--check] [FOLDER ...]   (default folders: tests bench)
--check: change nothing; exit 1 when something would be rewritten or needs a hand fix.
"""

import re
import sys
from pathlib import Path

FOLDERS = ("kernels", "models", "service")
_NAMES = "|".join(FOLDERS)
_GENERATED = re.compile(r"^(\s*from\s+)service\._generated\.spinerad\.v1\b")
_FROM = re.compile(rf"^(\s*from\s+)({_NAMES})(\.|\s+import\b)")
_IMPORT_PLAIN = re.compile(rf"^(\s*)import\s+({_NAMES})(\s+as\s+\w+)?\s*(#.*)?$")
_IMPORT_DOTTED = re.compile(rf"^\s*import\s+({_NAMES})\.")
_STRING = re.compile(rf"""["']({_NAMES})\.[A-Za-z_]""")


def fix_line(line):
    """Return ``(new line, needs a hand fix)`` for one source line."""
    new = _GENERATED.sub(r"\1spinerad.v1", line)
    new = _FROM.sub(r"\1spinerad.\2\3", new)
    plain = _IMPORT_PLAIN.match(new)
    if plain:
        indent, name, alias, comment = plain.groups()
        new = f"{indent}from spinerad import {name}{alias or ''}{'  ' + comment if comment else ''}"
    hand = bool(_IMPORT_DOTTED.match(new) or _STRING.search(new))
    return new, hand


def main(argv):
    """Rewrite (or with ``--check`` only list) the folder-name imports; the exit status of the script."""
    check = "--check" in argv
    folders = [a for a in argv if a != "--check"] or ["tests", "bench"]
    root = Path(__file__).resolve().parents[1]
    changed, hand = [], []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").split("\n")
            out = []
            for number, line in enumerate(lines, start=1):
                new, needs_hand = fix_line(line)
                if new != line:
                    changed.append(f"{path.relative_to(root)}:{number}: {line.strip()}  ->  {new.strip()}")
                if needs_hand:
                    hand.append(f"{path.relative_to(root)}:{number}: {new.strip()}")
                out.append(new)
            if out != lines and not check:
                path.write_text("\n".join(out), encoding="utf-8")
    for entry in changed:
        print(("would rewrite " if check else "rewrote ") + entry)
    for entry in hand:
        print("fix by hand: " + entry)
    print(f"{len(changed)} import(s) {'to rewrite' if check else 'rewritten'}, {len(hand)} to fix by hand")
    return 1 if check and (changed or hand) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
