"""Generate the ``spinerad.v1`` Python code from ``protos/`` (grpcio-tools); the one build step for protobuf.

Run ``python -m spinerad.service.codegen`` after editing a ``.proto`` file; ``--check`` regenerates into a
temporary folder and fails if the checked-in code differs (the test suite runs the check).

``protoc -I protos`` sees ``protos/spinerad/v1/service.proto`` as ``spinerad/v1/service.proto``, so the
generated modules import their siblings as ``spinerad.v1.<name>_pb2``. They are written to
``service/_generated/spinerad/v1/`` and pyproject.toml installs that folder as the package ``spinerad.v1``:
the import path and the ``-I`` root line up, with no import rewriting (grpc proposal L64).
"""

import argparse
import difflib
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parents[1] / "protos"
GENERATED_ROOT = Path(__file__).resolve().parent / "_generated"
PACKAGE_DIR = Path("spinerad") / "v1"

_INIT = '"""Generated from protos/spinerad/v1 by ``python -m spinerad.service.codegen``; do not edit."""\n'

# Lines that carry the generator's version: they differ between grpcio-tools releases, not between schemas.
_VERSION_LINE = re.compile(
    r"(Protobuf Python Version|GRPC_GENERATED_VERSION|_runtime_version\.|^\s*\d+,\s*$)"
)


def proto_files(root=PROTO_ROOT):
    """The .proto files of the API, relative to ``root``."""
    return sorted(str(p.relative_to(root)) for p in (root / PACKAGE_DIR).glob("*.proto"))


def generate(out_root=GENERATED_ROOT, proto_root=PROTO_ROOT):
    """Run protoc on every .proto file; write ``<out_root>/spinerad/v1/*_pb2*.py(i)`` and return them."""
    from grpc_tools import protoc

    out_root = Path(out_root)
    package = out_root / PACKAGE_DIR
    package.mkdir(parents=True, exist_ok=True)
    for stale in package.glob("*_pb2*.py*"):
        stale.unlink()
    well_known = str(resources.files("grpc_tools") / "_proto")
    argv = [
        "protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *proto_files(proto_root),
    ]
    if protoc.main(argv) != 0:
        raise RuntimeError("protoc failed; see its messages above")
    (package / "__init__.py").write_text(_INIT)
    return sorted(package.iterdir())


def _normalised(path):
    return [line for line in path.read_text().splitlines() if not _VERSION_LINE.search(line)]


def check(generated_root=GENERATED_ROOT, proto_root=PROTO_ROOT):
    """Regenerate into a temporary folder; return the differences from ``generated_root`` (empty: same)."""
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = {p.name: p for p in generate(tmp, proto_root) if p.is_file()}
        current_dir = Path(generated_root) / PACKAGE_DIR
        current = {p.name: p for p in current_dir.glob("*.py*")} if current_dir.exists() else {}
        for name in sorted(fresh.keys() | current.keys()):
            if name not in current:
                problems.append(f"{name}: missing from {current_dir}")
            elif name not in fresh:
                problems.append(f"{name}: not generated from protos/ any more (stale)")
            else:
                diff = list(
                    difflib.unified_diff(
                        _normalised(current[name]),
                        _normalised(fresh[name]),
                        name,
                        "regenerated",
                        n=1,
                        lineterm="",
                    )
                )
                if diff:
                    problems.append("\n".join(diff[:40]))
    return problems


def main(argv=None):
    """Command line: regenerate (default) or ``--check``."""
    parser = argparse.ArgumentParser(
        prog="python -m spinerad.service.codegen", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="fail if the checked-in code is out of date")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("generated code is out of date: run python -m spinerad.service.codegen", file=sys.stderr)
            return 1
        return 0
    for path in generate():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
