"""The system unit lets bubblewrap build each attempt's sandbox: the namespaces it creates are
allowed, its mount calls pass the filter, and nothing covers parts of /proc (the kernel then
refuses the attempt's fresh /proc mount; measured with /proc/sys and /proc/kmsg overmounted)."""

from __future__ import annotations

from test_systemd_units import SYSTEM_UNIT, parse_unit


def test_the_system_unit_allows_the_namespaces_and_mounts_bwrap_needs() -> None:
    service = parse_unit(SYSTEM_UNIT.read_text())["Service"]
    allowed = set(service["RestrictNamespaces"][-1].split())
    assert {"user", "mnt", "pid", "ipc", "net"} <= allowed
    assert "@mount" in service["SystemCallFilter"][-1].split()


def test_the_system_unit_covers_no_part_of_proc() -> None:
    service = parse_unit(SYSTEM_UNIT.read_text())["Service"]
    for key in ("ProtectKernelTunables", "ProtectKernelLogs"):
        assert service.get(key, ["no"])[-1] == "no", key
