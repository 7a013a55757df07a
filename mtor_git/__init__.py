"""mtor-git: dispatch coding tasks to headless AI agents through git alone."""

from __future__ import annotations

__version__ = "0.1.0"
