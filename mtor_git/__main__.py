"""`python -m mtor_git`: the same CLI as the `mtor-git` console script."""

from __future__ import annotations

from mtor_git.cli.main import main

raise SystemExit(main())
