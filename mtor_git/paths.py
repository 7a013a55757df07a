"""Every default path, from platformdirs; no other module names a home directory."""

from __future__ import annotations

import warnings
from pathlib import Path

import platformdirs

APP = "mtor-git"


def config_file() -> Path:
    return Path(platformdirs.user_config_dir(APP)) / "config.yaml"


def workspace_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP)) / "workspace"


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP))


def runtime_dir() -> Path:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (cron, some services) and falls back to
    # a per-user folder under /tmp, which is what we want there too.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir(APP))
