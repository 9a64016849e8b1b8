"""``python -m accelsim`` and the ``accelsim`` command.

``--version`` is answered here, before the commands and their libraries are imported.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``accelsim`` command; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] in (["--version"], ["-V"]):
        from accelsim._version import __version__

        print(f"accelsim {__version__}")
        return 0
    from accelsim.cli import main as run_command

    return run_command(arguments)


if __name__ == "__main__":
    sys.exit(main())
