"""``spinerad serve`` with the shipped models behind a gate, in its own process (SIGTERM / lifecycle tests).

Usage: ``python -m tests.service.serve_gated [spinerad serve options]``. Standard input steers the registry's
gate: a line "close" makes predict() wait (acknowledged by "gated: gate closed" on stderr), "open" releases
the waiting calls. Each waiting call prints "gated: predict waiting" on stderr first, so tests hold studies
in flight without sleeping.
"""

import sys
import threading

from spinerad.cli import build_parser
from spinerad.service.commands import serve

from .gated import GatedRegistry


def main(argv=None):
    """Serve with a stdin-steered gated registry; return serve's exit code."""
    registry = GatedRegistry()
    original = registry.predict

    def predict(*args, **kwargs):
        if not registry.gate.is_set():
            print("gated: predict waiting", file=sys.stderr, flush=True)
        return original(*args, **kwargs)

    registry.predict = predict

    def steer():
        for line in sys.stdin:
            if line.strip() == "close":
                registry.gate.clear()
                print("gated: gate closed", file=sys.stderr, flush=True)
            elif line.strip() == "open":
                registry.gate.set()

    threading.Thread(target=steer, daemon=True).start()
    parsed = build_parser().parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    return serve(parsed, load_registry=lambda: registry)


if __name__ == "__main__":
    sys.exit(main())
