"""Figures for the settings the ready profiles choose, with the real CLIs against the loopback
OpenAI stub (tests/openai_stub.py):

  codex 401         seconds and requests until Codex reports a 401, with its provider's retries
                    off (request/stream_max_retries = 0, as README says) and left at its default
  codex sandbox     whether a patch and a shell write land, per --sandbox mode

    PYTHONPATH=. python bench/cli_settings.py

Prints every figure; asserts nothing. Needs .cache-node/node_modules/.bin/codex (.ci/run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from openai_stub import OpenAIStub, Turn, patch_write, shell_write, unauthorized  # noqa: E402

CODEX = ROOT / ".cache-node" / "node_modules" / ".bin" / "codex"


def run_codex(turns: list[Turn], args: list[str], *, retries_off: bool) -> tuple[float, int, bool]:
    """(seconds, model requests, whether out.txt was written) for one `codex exec`."""
    homes = ROOT / ".cache-test-homes"
    homes.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=homes) as home, \
            tempfile.TemporaryDirectory() as work, OpenAIStub(turns) as stub:
        retries = "request_max_retries = 0\nstream_max_retries = 0\n" if retries_off else ""
        Path(home, "config.toml").write_text(
            f'model_provider = "stub"\nmodel = "gpt-stub"\n[model_providers.stub]\n'
            f'name = "stub"\nbase_url = "{stub.base_url}"\nenv_key = "OPENAI_API_KEY"\n'
            f'wire_api = "responses"\n{retries}')
        subprocess.run(["git", "init", "-q", work], check=True)
        started = time.monotonic()
        subprocess.run([str(CODEX), "exec", "--json", "--skip-git-repo-check", "--ephemeral",
                        *args, "-"], input="go\n", capture_output=True, text=True, cwd=work,
                       timeout=120, env={**os.environ, "CODEX_HOME": home,
                                         "OPENAI_API_KEY": "sk-bench-0123456789"})
        took = time.monotonic() - started
        return took, len(stub.model_requests), Path(work, "out.txt").exists()


def main() -> None:
    if not CODEX.exists():
        print(f"codex not installed at {CODEX}; run .ci/run or npm install it")
        return
    for off in (True, False):
        took, requests, _ = run_codex([unauthorized()], [], retries_off=off)
        label = "retries off" if off else "default retries"
        print(f"codex 401, {label:15}: {took:5.1f} s, {requests} request(s)")
    for mode in ("read-only", "workspace-write"):
        for kind, turns in (("patch", patch_write("out.txt", "x\n")),
                            ("shell", shell_write("out.txt", "x\n"))):
            _, _, written = run_codex(turns, ["--sandbox", mode], retries_off=True)
            print(f"codex --sandbox {mode:15} {kind}: {'written' if written else 'REFUSED'}")


if __name__ == "__main__":
    main()
