"""Every human-readable line the CLI prints goes through `echo`: a spec title, an agent's stderr or
a failure message may hold escape sequences, which are shown escaped instead of acting on the
terminal (`mtor-git result` must not clear the screen or retitle the window). Imports nothing
heavy, so the hooks' fast paths can use it."""

from __future__ import annotations

import sys
from typing import TextIO

from mtor_git.printable import printable


def echo(*values: object, sep: str = " ", end: str = "\n", file: TextIO | None = None,
         flush: bool = False) -> None:
    """print(), with control characters escaped (newlines and tabs kept)."""
    print(printable(sep.join(str(v) for v in values)), end=end, file=file or sys.stdout,
          flush=flush)
