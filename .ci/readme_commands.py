"""Print the README's set-up commands (the first two ```sh blocks), one per line, so that CI runs
exactly what a newcomer copies: `python3 .ci/readme_commands.py demo|tests`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def commands(text: str) -> list[str]:
    blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    return [block.strip() for block in blocks[:2]]


if __name__ == "__main__":
    which = {"demo": 0, "tests": 1}[sys.argv[1]]
    print(commands(README.read_text(encoding="utf-8"))[which])
