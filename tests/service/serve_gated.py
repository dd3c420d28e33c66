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

_STDERR = threading.Lock()


def _say(line):
    """Write one whole line on stderr.

    ``print`` writes the text and its newline as two writes, so two workers reaching the gate together could
    interleave into one line holding both messages and an empty one, and a test waiting for the second
    message would never see it (CI failed so, about one run in ten).
    """
    with _STDERR:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def main(argv=None):
    """Serve with a stdin-steered gated registry; return serve's exit code."""
    registry = GatedRegistry()
    original = registry.predict

    def predict(*args, **kwargs):
        if not registry.gate.is_set():
            _say("gated: predict waiting")
        return original(*args, **kwargs)

    registry.predict = predict

    def steer():
        for line in sys.stdin:
            if line.strip() == "close":
                registry.gate.clear()
                _say("gated: gate closed")
            elif line.strip() == "open":
                registry.gate.set()

    threading.Thread(target=steer, daemon=True).start()
    parsed = build_parser().parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    return serve(parsed, load_registry=lambda: registry)


if __name__ == "__main__":
    sys.exit(main())
