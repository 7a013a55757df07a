"""The runner against real processes: preflight kinds, prompt delivery, process-group kills,
bounded capture, redaction and the explicit environment."""

from __future__ import annotations

import json
import shutil
import signal
import threading
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from runner_fixtures import FAKE_AGENT, base_environ, fake_profile, fake_state, git_worktree

from mtor_git.agent.capture import StreamCapture
from mtor_git.agent.profiles import AgentProfile
from mtor_git.agent.redact import Redactor, secrets_from
from mtor_git.agent.spawn import RunRequest, build_argv, preflight, run_attempt
from mtor_git.errors import PreflightError

SECRET = "sk-live-0123456789abcdef"


@pytest.fixture
def wt(tmp_path: Path) -> Path:
    return git_worktree(tmp_path / "wt")


def request(profile: AgentProfile, cwd: Path, prompt: str = "do it", **kw: object) -> RunRequest:
    fields: dict[str, object] = {"environ": base_environ(), "timeout": 30.0}
    fields.update(kw)
    return RunRequest(profile, prompt, cwd, **fields)  # type: ignore[arg-type]


def preflight_kind(req: RunRequest) -> str:
    with pytest.raises(PreflightError) as info:
        preflight(req)
    return info.value.kind


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (PID 1 here may never reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --- preflight -----------------------------------------------------------------------------

def test_binary_missing_on_the_agents_path(wt: Path) -> None:
    profile = AgentProfile(name="x", command=("no-such-agent-binary-xyz", "-p"))
    assert preflight_kind(request(profile, wt)) == "binary_missing"


def test_binary_resolved_on_the_path_the_agent_gets_not_ours(wt: Path) -> None:
    profile = AgentProfile(name="x", command=("python3",))
    assert preflight_kind(request(profile, wt, environ={"PATH": "/nonexistent"})) == \
        "binary_missing"


@pytest.mark.parametrize("cwd", ["relative/dir", "/nonexistent/mtor-test-dir"])
def test_bad_cwd_relative_or_missing(cwd: str) -> None:
    assert preflight_kind(request(fake_profile("success"), Path(cwd))) == "bad_cwd"


def test_bad_cwd_not_a_git_worktree(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert preflight_kind(request(fake_profile("success"), plain)) == "bad_cwd"


def test_missing_env_names_the_variable(wt: Path) -> None:
    profile = fake_profile("success", requires_env=("GLM_TOKEN",))
    with pytest.raises(PreflightError) as info:
        preflight(request(profile, wt, environ=base_environ(GLM_TOKEN="")))
    assert info.value.kind == "missing_env"
    assert "GLM_TOKEN" in str(info.value)


@pytest.mark.parametrize("where", ["cwd", "argv", "var", "env"])
def test_unexpanded_tilde_or_var_is_refused(wt: Path, where: str) -> None:
    profile = fake_profile("success")
    cwd = wt
    if where == "cwd":
        cwd = Path("~/work/repo")
    elif where == "argv":
        profile = fake_profile("success", "--prompt-file=~/p.md")
    elif where == "var":
        profile = fake_profile("success", "${HOME}/x")
    else:
        profile = fake_profile("success", env={"CODEX_HOME": "~/.codex"})
    assert preflight_kind(request(profile, cwd)) == "unexpanded_path"


@pytest.mark.parametrize("prompt", ["", "  \n\t\n"])
def test_empty_prompt(wt: Path, prompt: str) -> None:
    assert preflight_kind(request(fake_profile("success"), wt, prompt)) == "empty_prompt"


def test_preflight_failure_never_spawns(wt: Path) -> None:
    with pytest.raises(PreflightError):
        run_attempt(request(fake_profile("success"), wt, ""))
    assert not fake_state(wt, "calls").exists()


# --- argv and prompt delivery ----------------------------------------------------------------

def test_model_args_at_token_appended_or_dropped() -> None:
    placed = AgentProfile(name="c", command=("codex", "exec", "{model_args}", "-"),
                          model_args=("-m", "{model}"))
    assert build_argv(placed, "gpt-x") == ("codex", "exec", "-m", "gpt-x", "-")
    assert build_argv(placed, None) == ("codex", "exec", "-")
    appended = AgentProfile(name="c", command=("claude", "-p"), model_args=("--model", "{model}"))
    assert build_argv(appended, "glm-5.1") == ("claude", "-p", "--model", "glm-5.1")


def test_model_reaches_the_agent(wt: Path) -> None:
    profile = fake_profile("success", model_args=("--model", "{model}"))
    run = run_attempt(request(profile, wt, model="glm-5.1"))
    assert run.exit_code == 0
    assert json.loads(run.stdout.text())["model"] == "glm-5.1"


@pytest.mark.parametrize("prompt", ["---\ntitle: x\n---\nfoo\n", "- item\n- other\n", "--help"])
def test_prompt_reaches_agent_intact_on_stdin(wt: Path, prompt: str) -> None:
    run = run_attempt(request(fake_profile("success"), wt, prompt))
    assert run.exit_code == 0, run.stderr.text()
    assert fake_state(wt, "prompt.txt").read_bytes() == prompt.encode()


@pytest.mark.parametrize("prompt", ["---\ntitle: x\n---\nfoo\n", "- item\n"])
def test_prompt_reaches_agent_intact_in_a_file_outside_the_worktree(wt: Path, prompt: str) -> None:
    profile = fake_profile("success", "--prompt-file", "{prompt_file}", prompt="file")
    run = run_attempt(request(profile, wt, prompt))
    assert run.exit_code == 0, run.stderr.text()
    assert fake_state(wt, "prompt.txt").read_bytes() == prompt.encode()
    prompt_file = Path(run.argv[run.argv.index("--prompt-file") + 1])
    assert wt not in prompt_file.parents
    assert not prompt_file.exists()  # removed after the attempt


# --- process control -------------------------------------------------------------------------

def test_timeout_kills_the_whole_process_group(wt: Path) -> None:
    run = run_attempt(request(fake_profile("hang"), wt, timeout=1.0, kill_grace=0.5))
    pids = [int(p) for p in fake_state(wt, "pids").read_text().split()]
    assert len(pids) == 2
    assert run.stopped_by == "timeout"
    assert run.signal == signal.SIGTERM
    assert run.stdout.text() == "thinking...\n"
    assert [p for p in pids if alive(p)] == []


@pytest.mark.parametrize("event_name", ["cancel", "shutdown"])
def test_cancel_and_shutdown_stop_the_group(wt: Path, event_name: str) -> None:
    event = threading.Event()
    timer = threading.Timer(0.5, event.set)
    timer.start()
    run = run_attempt(request(fake_profile("hang"), wt, timeout=60.0, kill_grace=0.5),
                      cancel=event if event_name == "cancel" else None,
                      shutdown=event if event_name == "shutdown" else None)
    timer.cancel()
    assert run.stopped_by == event_name
    pids = [int(p) for p in fake_state(wt, "pids").read_text().split()]
    assert [p for p in pids if alive(p)] == []


def test_death_by_signal_is_recorded(wt: Path) -> None:
    run = run_attempt(request(fake_profile("signal", "--signal", "11"), wt))
    assert (run.exit_code, run.signal, run.stopped_by) == (None, 11, None)


def test_exec_failure_after_preflight_is_a_spawn_error(wt: Path, tmp_path: Path) -> None:
    agent = tmp_path / "agent.py"
    shutil.copy(FAKE_AGENT, agent)
    prepared = preflight(request(AgentProfile(name="x", command=(str(agent), "success")), wt))
    agent.unlink()
    run = run_attempt(prepared)
    assert run.exit_code is None
    assert run.spawn_error and "FileNotFoundError" in run.spawn_error


def test_huge_output_is_bounded_and_counted(wt: Path) -> None:
    limit = 64 * 1024
    tracemalloc.start()
    try:
        run = run_attempt(request(fake_profile("huge", "--mb", "50"), wt, output_limit=limit))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    mib = 1024 * 1024
    assert run.exit_code == 0
    assert 50 * mib < run.stdout.total_bytes < 50 * mib + 1024
    assert run.stderr.total_bytes == mib
    assert run.stdout.truncated and len(run.stdout.head) == limit
    assert len(run.stdout.tail) == limit
    assert run.stdout.tail.rstrip().endswith('"terminal_reason": "completed"}')
    assert peak < 4 * mib, f"peak {peak} bytes while capturing 50 MiB"


def test_environment_is_built_explicitly(wt: Path) -> None:
    profile = fake_profile("env-dump", pass_env=("PASSED_VAR",), requires_env=("NEEDED",),
                           env={"PROFILE_VAR": "from-profile"})
    environ = base_environ(PASSED_VAR="yes", NEEDED="needed-value", NOT_PASSED="leak")
    run = run_attempt(request(profile, wt, environ=environ))
    env = json.loads(run.stdout.text())
    assert "NOT_PASSED" not in env
    assert env["PASSED_VAR"] == "yes"
    assert env["PROFILE_VAR"] == "from-profile"  # written literally: configuration, no secret
    assert env["NEEDED"] == "[REDACTED:NEEDED]"
    assert set(run.env_names) == set(environ) - {"NOT_PASSED"} | {"PROFILE_VAR"}


# --- redaction -------------------------------------------------------------------------------

def test_secret_redacted_from_argv_output_and_stderr(wt: Path) -> None:
    profile = fake_profile("echo-secret", "--secret-var", "GLM_TOKEN", "--output-format", SECRET,
                           requires_env=("GLM_TOKEN",))
    run = run_attempt(request(profile, wt, environ=base_environ(GLM_TOKEN=SECRET)))
    assert run.exit_code == 0
    dumped = json.dumps(run.to_json())
    assert SECRET not in dumped
    assert SECRET[:12] not in dumped and SECRET[-12:] not in dumped  # no half of a split
    assert "[REDACTED:GLM_TOKEN]" in run.stdout.text()
    assert "[REDACTED:GLM_TOKEN]" in run.stderr.text()
    assert "[REDACTED:GLM_TOKEN]" in run.argv


def test_secrets_from_profile_and_credential_names() -> None:
    profile = AgentProfile(name="x", command=("a",), requires_env=("NEED",),
                           secret_env=("HIDDEN",), env={"URL": "https://api.example/x",
                                                        "SHORT": "1"})
    env = {"NEED": "need-value", "HIDDEN": "hidden-value", "GITHUB_TOKEN": "ghp_abcdef",
           "MY_API_KEY": "k" * 10, "HOME": "/home/someone", "PASSWD": "abc"}
    found = secrets_from(profile, env)
    assert set(found) == {"NEED", "HIDDEN", "GITHUB_TOKEN", "MY_API_KEY"}  # URL: literal config


def test_redactor_prefers_the_longest_secret_and_json_escaped_forms() -> None:
    red = Redactor({"A": "abcdef", "B": "abcdefghij", "Q": 'quote"d\\val'})
    assert red.text("x abcdefghij abcdef") == "x [REDACTED:B] [REDACTED:A]"
    assert "quote" not in red.text(json.dumps({"v": 'quote"d\\val'}))


SECRETS = {"TOKEN_A": "alpha-secret-1", "TOKEN_B": "bravo-42-secret-xyz", "TOKEN_C": "cccccc"}


@given(
    st.lists(st.sampled_from([*SECRETS.values(), "plain ", "alpha", "-secret", "c", "\n", "é"]),
             max_size=30),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=20),
)
def test_stream_redaction_equals_whole_text_redaction_for_any_split(
        parts: list[str], sizes: list[int]) -> None:
    red = Redactor(SECRETS)
    text = "".join(parts)
    data = text.encode()
    capture = StreamCapture(red, limit=1 << 20)
    pos, i = 0, 0
    while pos < len(data):  # split bytes anywhere, even inside a UTF-8 character
        step = sizes[i % len(sizes)]
        capture.feed(data[pos:pos + step])
        pos, i = pos + step, i + 1
    captured = capture.result()
    assert captured.head == red.text(text)
    assert captured.total_bytes == len(data)
    for value in SECRETS.values():
        assert value not in captured.head


def test_head_and_tail_never_hold_a_secret_split_at_their_edges() -> None:
    red = Redactor({"TOKEN": SECRET})
    capture = StreamCapture(red, limit=20)
    for _ in range(50):
        capture.feed(f"..{SECRET}.".encode())
    out = capture.result()
    assert out.truncated
    assert out.total_bytes == 50 * (len(SECRET) + 3)
    for piece in (out.head, out.tail):
        assert len(piece) == 20
        assert SECRET[:8] not in piece and SECRET[-8:] not in piece


def test_short_values_are_not_redacted() -> None:
    assert Redactor({"TOKEN": "abc"}).text("abc abc") == "abc abc"
