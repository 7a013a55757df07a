"""The done index: one ref, `refs/mtor/done`, that records every finished run (docs/DESIGN.md §3).

A worker reads a task's end here instead of fetching and reading every `mtor/<id>` branch, and a
run stays done after its branch is merged or deleted: the branch a pull request reads is the
user's to delete, and a deleted one is never run again. `status` reads its summaries from here.

Layout: a chain of commits, each a child of the one it was written on top of (a non-force push,
so two workers never overwrite each other: the loser reads the new tip and writes again). The
tree holds 256 files `<xx>.json`, `xx` the first two hex digits of the SHA-1 of the task id, each a
JSON object `{"<id>": {"<run>": {summary}}}` with one task per line. One update rewrites one
bucket (a few KiB at 5,000 tasks) and the 256-entry root tree, never a file per task.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from mtor_git import git
from mtor_git.errors import GitOpError, PushRejected
from mtor_git.git import Repository, refs

MAX_BUCKET_BYTES = 2 << 20  # ~5,000 tasks in one bucket (1.3 million in all): no worker wrote more
MAX_TRIES = 12  # concurrent writers: each loses at most once per rival's landed update
_TEXT_LIMIT = 300  # a failure message or title is cut here (the result file has it whole)


@dataclass(frozen=True)
class DoneRun:
    """One finished run as the index records it: where its result is and what it says."""

    task_id: str
    run: int
    branch: str  # the branch holding results/<id>.json (a follow-up's: the one it continued)
    commit: str  # the result commit
    summary: Mapping[str, Any]  # status, attempts, … (from_result), a string status at least

    @classmethod
    def from_result(cls, task_id: str, run: int, branch: str, commit: str,
                    data: Mapping[str, Any]) -> DoneRun:
        """The entry of a result file's JSON (`data`) on `branch` at `commit`."""
        summary = summary_of(data)
        summary["failure_message"] = _cut(summary["failure_message"])
        summary["title"] = _cut(summary["title"])
        return cls(task_id, run, branch, commit, summary)

    def to_json(self) -> dict[str, Any]:
        return {"branch": self.branch, "commit": self.commit, **self.summary}

    @property
    def status(self) -> str:
        return str(self.summary["status"])

    @classmethod
    def from_json(cls, task_id: str, run: int, data: object) -> DoneRun | None:
        """The entry `data` read back (None unless it names a branch, a commit and a status,
        each a string); fields this version does not know are kept, and written back."""
        if not isinstance(data, dict):
            return None
        summary = dict(data)  # a board of 5,000 tasks reads 5,000 of these: no loop per key
        branch, commit = summary.pop("branch", None), summary.pop("commit", None)
        if not (isinstance(branch, str) and isinstance(commit, str)
                and isinstance(summary.get("status"), str)):
            return None
        return cls(task_id, run, branch, commit, summary)


def summary_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """What `status` shows of a result file's JSON, flat: its status, model_invoked,
    finished_at, duration, attempts (a count), failure_kind, failure_message, title and
    head_commit, as the file has them."""
    failure = data.get("failure") if isinstance(data.get("failure"), dict) else {}
    task = data.get("task") if isinstance(data.get("task"), dict) else {}
    attempts = data.get("attempts")
    return {"status": str(data.get("status", "unknown")),
            "model_invoked": data.get("model_invoked"),
            "finished_at": data.get("finished_at"), "duration": data.get("duration"),
            "attempts": len(attempts) if isinstance(attempts, list) else 0,
            "failure_kind": failure.get("kind") if failure else None,
            "failure_message": failure.get("message") if failure else None,
            "title": task.get("title") if task else None,
            "head_commit": data.get("head_commit")}


def _cut(value: object) -> str | None:
    return None if value is None else str(value)[:_TEXT_LIMIT]


_BUCKETS = tuple(f"{n:02x}.json" for n in range(256))  # by number: the digest's first byte
_BUCKET_NUMBERS = {name: n for n, name in enumerate(_BUCKETS)}


def _bucket_number(task_id: str) -> int:
    """The first byte of the SHA-1 of `task_id` (an id no task can have, with a lone
    surrogate, hashes too)."""
    return hashlib.sha1(task_id.encode("utf-8", "surrogatepass")).digest()[0]


@functools.lru_cache(maxsize=1 << 16)
def bucket_of(task_id: str) -> str:
    return _BUCKETS[_bucket_number(task_id)]


Bucket = dict[str, dict[int, DoneRun]]
_PARSED: OrderedDict[str, Bucket] = OrderedDict()  # blob oid -> parsed bucket
_PARSED_MAX = 1024
_PARSED_GUARD = threading.Lock()


def _parse(raw: bytes) -> Bucket:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON; nested past the parser's depth
        return {}  # unreadable: as if empty (the branches still tell; a writer rewrites it)
    found: Bucket = {}
    for task_id, runs in (data.items() if isinstance(data, dict) else ()):
        for run_text, entry in (runs.items() if isinstance(runs, dict) else ()):
            text = str(run_text)
            run = int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0
            done = DoneRun.from_json(task_id, run, entry) if run > 0 else None
            if done is not None:
                found.setdefault(task_id, {})[run] = done
    return found


def _dump(bucket: Bucket) -> bytes:
    lines = [json.dumps(task_id) + ": " + json.dumps(
                 {str(r): bucket[task_id][r].to_json() for r in sorted(bucket[task_id])},
                 sort_keys=True, separators=(",", ":"))
             for task_id in sorted(bucket)]
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


class DoneIndex:
    """The index at one commit (None: no index yet, or its objects are not here)."""

    def __init__(self, repo: Repository, oid: str | None) -> None:
        self.repo = repo
        self.oid = oid if oid is not None and git.resolve(repo, oid) is not None else None
        self._blobs: dict[str, str] | None = None
        self._mine: dict[str, Bucket] = {}  # this index's buckets read so far
        self._tasks: Mapping[str, Mapping[int, DoneRun]] | None = None

    def _bucket(self, name: str) -> Bucket:
        found = self._mine.get(name)
        if found is not None:
            return found
        found = self._read_bucket(name)
        self._mine[name] = found
        return found

    def _read_bucket(self, name: str) -> Bucket:
        blob = self._names().get(name)
        if blob is None or self.oid is None:
            return {}
        with _PARSED_GUARD:
            known = _PARSED.get(blob)
            if known is not None:
                _PARSED.move_to_end(blob)
                return known
        parsed: Bucket = {}
        size = git.blob_size(self.repo, blob)
        if size is None or size > MAX_BUCKET_BYTES:
            logger.warning("{} of {} holds {} bytes, more than a bucket ever needs; read as "
                           "empty", name, refs.DONE_REF, size)
        else:
            parsed = _parse(git.blob_data(self.repo, blob) or b"")
        with _PARSED_GUARD:
            _PARSED[blob] = parsed
            while len(_PARSED) > _PARSED_MAX:
                _PARSED.popitem(last=False)
        return parsed

    def _names(self) -> dict[str, str]:
        """The index's bucket files: name -> blob oid (none without an index)."""
        if self._blobs is None:
            self._blobs = git.top_blobs(self.repo, self.oid) if self.oid is not None else {}
        return self._blobs

    def runs(self, task_id: str) -> dict[int, DoneRun]:
        return dict(self._bucket(bucket_of(task_id)).get(task_id, {}))

    def has(self, task_id: str, run: int) -> bool:
        return run in self._bucket(bucket_of(task_id)).get(task_id, {})

    def get(self, task_id: str, run: int) -> DoneRun | None:
        return self._bucket(bucket_of(task_id)).get(task_id, {}).get(run)

    def tasks(self) -> Mapping[str, Mapping[int, DoneRun]]:
        """Every recorded task's runs, read in one pass over the buckets (a board asks about
        every task: no bucket lookup per task). A task counts only in the bucket its id hashes
        to, where get() and has() look: an entry a writer misplaced is no record anywhere.
        Read-only: these are the parsed buckets themselves, read once per index."""
        if self._tasks is not None:
            return self._tasks
        found: dict[str, Mapping[int, DoneRun]] = {}
        for name in sorted(self._names()):
            number = _BUCKET_NUMBERS.get(name)
            if number is None:
                continue  # no id hashes to it
            for task_id, runs in self._bucket(name).items():
                # bucket_of(task_id) == name, without its cache or the hex (5,000 ids: 2 ms, not 8)
                if _bucket_number(task_id) == number:
                    found[task_id] = runs
        self._tasks = found
        return found

    def __iter__(self) -> Iterator[DoneRun]:
        for runs in self.tasks().values():
            yield from runs.values()


def fetch_index(repo: Repository) -> str | None:
    """The remote's index commit, fetched (None when there is none yet): over the listing's
    connection when another worker moved it."""
    with git.Listing(repo) as listing:
        oid = listing.refs.get(refs.DONE_REF)
        if oid is not None and git.resolve(repo, oid) is None:
            git.fetch(repo, refspecs=[f"+{refs.DONE_REF}:{refs.DONE_TRACKING}"],
                      connected=listing.take())
    return oid


def record(repo: Repository, runs: Sequence[DoneRun], *, also: Sequence[str] = (),
           author: tuple[str, str] | None = None, sleep: Any = time.sleep) -> bool:
    """Add `runs` to the remote's index; `also` are more refspecs for the same push (deletions of
    the claims those runs held: safe now that their results are on the remote). True when the
    index holds every run. Each try writes on the tip it just read, so a rival's update is never
    lost; the loser of a race reads again and writes again (MAX_TRIES, with a short random wait)."""
    extra = list(also)
    for attempt in range(MAX_TRIES):
        try:
            seen = fetch_index(repo)
            files = _updated_buckets(DoneIndex(repo, seen), runs)
            specs = list(extra)
            if files:
                new = git.commit_files(
                    repo, ref=refs.LOCAL_DONE_REF, parent=seen, files=files,
                    message=_message(runs), author_name=author[0] if author else None,
                    author_email=author[1] if author else None)
                specs.insert(0, f"{new}:{refs.DONE_REF}")
            if not specs:
                return True
            git.push(repo, specs)
            return True
        except PushRejected as exc:
            extra = [s for s in extra if s.rsplit(":", 1)[-1] in exc.refused]
            if refs.DONE_REF not in exc.refused:
                logger.warning("the remote refused {}", exc)
                return True
            sleep(random.uniform(0.02, 0.1) * (attempt + 1))
        except GitOpError as exc:
            logger.warning("could not record {} in {}: {}", _ids(runs), refs.DONE_REF, exc)
            _push_alone(repo, extra)
            return False
    logger.warning("could not record {} in {} after {} tries (other workers kept moving it); "
                   "tried again later, their branches still tell", _ids(runs), refs.DONE_REF,
                   MAX_TRIES)
    _push_alone(repo, extra)
    return False


def _push_alone(repo: Repository, specs: Sequence[str]) -> None:
    """The other refspecs of a record that failed (claim deletions): they must not wait for
    the index, a claim beside a published result only delays its task's followers."""
    if not specs:
        return
    try:
        git.push(repo, specs)
    except GitOpError as exc:
        logger.warning("could not push {}: {}", ", ".join(specs), exc)


def _updated_buckets(index: DoneIndex, runs: Sequence[DoneRun]) -> dict[str, bytes]:
    changed: dict[str, Bucket] = {}
    for done in runs:
        name = bucket_of(done.task_id)
        if index.get(done.task_id, done.run) == done:
            continue
        bucket = changed.get(name)
        if bucket is None:
            bucket = {k: dict(v) for k, v in index._bucket(name).items()}
            changed[name] = bucket
        bucket.setdefault(done.task_id, {})[done.run] = done
    return {name: _dump(bucket) for name, bucket in changed.items()}


def buckets(runs: Iterable[DoneRun]) -> dict[str, bytes]:
    """The files of an index holding exactly `runs` (a whole index built at once)."""
    found: dict[str, Bucket] = {}
    for run in runs:
        found.setdefault(bucket_of(run.task_id), {}).setdefault(run.task_id, {})[run.run] = run
    return {name: _dump(bucket) for name, bucket in found.items()}


def _ids(runs: Sequence[DoneRun]) -> str:
    return ", ".join(f"{d.task_id} run {d.run}" for d in runs[:5]) + (
        f" and {len(runs) - 5} more" if len(runs) > 5 else "")


def _message(runs: Sequence[DoneRun]) -> str:
    return f"mtor: done {_ids(runs)}"


_AT: OrderedDict[tuple[str, str | None], DoneIndex] = OrderedDict()
_AT_GUARD = threading.Lock()
_LAST: tuple[Repository, str | None, DoneIndex] | None = None


def _remember(repo: Repository, oid: str | None, index: DoneIndex) -> None:
    global _LAST
    _LAST = (repo, oid, index)  # one assignment: atomic, whatever thread reads it


def at(repo: Repository, oid: str | None) -> DoneIndex:
    """The index at commit `oid` of `repo` (its objects fetched), cached: every done check of a
    cycle reads the same one."""
    last = _LAST
    if last is not None and last[0] is repo and last[1] == oid:
        return last[2]  # every done check of a cycle or a board: one repository, one index
    key = (str(repo.path), oid)
    with _AT_GUARD:
        found = _AT.get(key)
        if found is not None and found.oid == oid:
            _AT.move_to_end(key)
            _remember(repo, oid, found)
            return found
    index = DoneIndex(repo, oid)
    if index.oid == oid:  # its objects are here: worth keeping
        _remember(repo, oid, index)
        with _AT_GUARD:
            _AT[key] = index
            while len(_AT) > 16:
                _AT.popitem(last=False)
    return index
