"""The label-reading fake Gemini as its own process, so its work never weighs on the measured one.

``python -m benchmarks.model_server --port 0 --api-key KEY`` prints ``READY <url>``; drive it
with :class:`tests.emulators.gemini.RemoteGemini` (``set_default(Reply.answer().after(7))``).
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.support import LabelReadingGemini
from tests.emulators.loopback import LoopbackServer, run_cli


def main(argv: list[str] | None = None) -> int:
    """Serve the label-reading fake Gemini on 127.0.0.1 until SIGTERM."""
    parser = argparse.ArgumentParser(description="A fake Gemini that states the trend label.")
    parser.add_argument("--api-key", default=None, help="the only key to accept (default: any)")

    def build(arguments: argparse.Namespace) -> LoopbackServer:
        return LabelReadingGemini(port=arguments.port, api_key=arguments.api_key)

    return run_cli(build, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
