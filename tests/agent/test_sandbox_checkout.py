"""The attempt sandbox and the task checkout's git files (#12): what a checkout's alternates or
gitdir file name is the agent's to write, so it never shows a place of the worker's; the objects
the worker lends the checkout are shown because the worker says so (`extra_ro`)."""

from __future__ import annotations

from pathlib import Path

from mtor_git.agent.sandbox import Mount, Sandbox, SandboxPath, plan


def checkout_borrowing(tmp_path: Path, objects: Path) -> Path:
    checkout = tmp_path / "ws" / "repo" / "worktrees" / "t1.r1"
    (checkout / ".git" / "objects" / "info").mkdir(parents=True)
    (checkout / ".git" / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    return checkout


def test_alternates_naming_a_worker_place_show_nothing_of_it(tmp_path: Path) -> None:
    state = tmp_path / "state"  # the worker's: hidden
    state.mkdir()
    box = Sandbox("bwrap", "/usr/bin/bwrap", hide=(state,))
    spec = plan(box, cwd=checkout_borrowing(tmp_path, state))
    assert Mount("ro", state.resolve()) not in spec.then


def test_the_objects_the_worker_lends_are_shown_read_only(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    objects = workspace / "repo" / "repo.git" / "objects"
    objects.mkdir(parents=True)
    box = Sandbox("bwrap", "/usr/bin/bwrap", hide=(workspace,))
    checkout = checkout_borrowing(tmp_path, objects)
    assert Mount("ro", objects.resolve()) not in plan(box, cwd=checkout).then
    assert Mount("ro", objects.resolve()) in plan(box, cwd=checkout, extra_ro=(objects,)).then


def test_alternates_outside_the_workers_places_still_count(tmp_path: Path) -> None:
    elsewhere = tmp_path / "user" / ".git" / "objects"  # a user's own `mtor-git run`
    elsewhere.mkdir(parents=True)
    box = Sandbox("bwrap", "/usr/bin/bwrap", hide=(tmp_path / "state",), checkout_git=True)
    spec = plan(box, cwd=checkout_borrowing(tmp_path, elsewhere))
    assert Mount("ro", elsewhere.resolve()) in spec.then


def test_a_task_checkouts_own_git_files_are_never_read_for_what_to_show(tmp_path: Path) -> None:
    """The agent rewrites them between two attempts (a fix round, a verify check): the worker
    shows only what it lends itself."""
    elsewhere = tmp_path / "anything" / "objects"
    elsewhere.mkdir(parents=True)
    checkout = checkout_borrowing(tmp_path, elsewhere)
    box = Sandbox("bwrap", "/usr/bin/bwrap", hide=(tmp_path / "state",))
    assert all(m.path != elsewhere.resolve() for m in plan(box, cwd=checkout).then)
    (checkout / ".git" / "objects" / "info" / "alternates").write_text("/\n")
    assert all(m.path != Path("/") for m in plan(box, cwd=checkout).then)


def test_no_bind_ever_shows_a_folder_holding_a_covered_place(tmp_path: Path) -> None:
    """`gitdir: /` in a user's worktree, `/` or `/etc` among a profile's paths: binding them
    after the covers would show the homes, the worker's places and /etc/shadow again."""
    state = tmp_path / "state"
    state.mkdir()
    checkout = tmp_path / "wt"
    checkout.mkdir()
    (checkout / ".git").write_text("gitdir: /\n")
    box = Sandbox("bwrap", "/usr/bin/bwrap", hide=(state,), checkout_git=True)
    spec = plan(box, cwd=checkout, paths=(SandboxPath(Path("/")), SandboxPath(Path("/etc")),
                                          SandboxPath(tmp_path, writable=True)),
                extra_ro=(Path("/"),))
    shown = {m.path for m in spec.then if m.kind != "hide"}
    assert Path("/") not in shown and Path("/etc") not in shown
    assert tmp_path.resolve() not in shown  # it holds the worker's state dir

