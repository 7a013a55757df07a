"""The worker's slots: `max_parallel` tasks at once, and each profile's own `max_parallel`. A
slot is held while a claim is pushed as well as while its task runs, since repositories sync
on threads of their own and two of them must not both take the last slot."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Protocol

from mtor_git.config.model import Config


class HasProfile(Protocol):
    @property
    def profile(self) -> str: ...


class Slots:
    def __init__(self, config: Config, lock: threading.RLock,
                 running: Mapping[tuple[str, str], HasProfile]) -> None:
        self.config, self._lock, self._running = config, lock, running
        self._reserved: dict[str, int] = {}  # slots held per profile while a claim is pushed

    def reserve(self, profile: str) -> bool:
        """Hold a slot for `profile` (False: none is free, for the worker or the profile)."""
        with self._lock:
            held = sum(self._reserved.values())
            if len(self._running) + held >= self.config.max_parallel:
                return False
            limit = self.config.agents.get(profile)
            cap = limit.max_parallel if limit is not None else None
            mine = sum(1 for r in self._running.values() if r.profile == profile)
            if cap is not None and mine + self._reserved.get(profile, 0) >= cap:
                return False
            self._reserved[profile] = self._reserved.get(profile, 0) + 1
            return True

    def release(self, profile: str) -> None:
        with self._lock:
            self._reserved[profile] -= 1

    def full(self) -> bool:
        """Every slot of the worker is taken (running or held while a claim is pushed)."""
        with self._lock:
            return len(self._running) + sum(self._reserved.values()) >= self.config.max_parallel
