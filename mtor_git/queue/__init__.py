"""The claim protocol end to end: who runs which run of which task, kept in git refs alone.

One claim ref per task, `refs/mtor/claims/<id>`, a chain of commits each holding `claim.json`
(`claims.Claim`); every change is one push the server accepts or refuses as a whole. The life
of one run's claim, each arrow naming the function that makes the move (docs/DESIGN.md §3):

    (no claim ref) ── acquire.acquire: claims.new_claim, protocol.push_claim(parent=None) ──┐
      a non-force push creating the ref: exactly one worker wins (the others: Missed.RACE)  │
                                                                                           ▼
    claimed  phase=running, attempt=0 ─ ClaimKeeper.mark_running_soon (1 s on: attempt=1) ─▶ running
    running ⟲ ClaimKeeper.beat(): claims.renewed, protocol.push_claim(parent=oid)
              every claim_lease/3 (sooner, at most every 3 s, when the agent's progress
              changed: ClaimKeeper.note_progress), a compare-and-swap; a claim that moved
              or vanished: ClaimKeeper._mark_lost → the agent stops, its result is discarded
              (a refused renewal while the ref still shows ours is no loss: the agent runs on)
    running ── result committed: outbox.new_entry, RepoState.put_outbox, then outbox.publish
    │         pushes mtor/<id>[-rN] FIRST, then outbox.finish: done.record, the claim's
    │         deletion in the same push ────────────────────────────────────────▶ done
    │                                                (no claim ref; a branch, a done-index entry)
    ├── push refused / remote unreachable: ClaimKeeper.publishing() ──▶ publishing
    │         (no take-over until lease + claims.PUBLISH_GRACE); outbox.flush retries
    │         outbox.publish each cycle (after a refusal: a doubling wait; when the claim was
    │         refused too, outbox.mark_blocked, at the first cycle whose outbox.claim_probe
    │         lands) ──────────────────────────────────────────────────────────────▶ done
    └── shutdown, park, full disk: ClaimKeeper.release(reason, attempts) ──▶ released
              phase=released, carried_attempts, not_before
    claimed, its daily budget spent: worker/ledger.defer ──▶ released at once
              reason "deferred (daily budget …)", not_before = the budget's reset
    released | lease lapsed | holder's process gone (claims.is_orphan_of) | unreadable
          ── claims.takeable, then acquire.acquire: claims.taken_over,
             protocol.push_claim(parent=seen) (CAS) ──▶ claimed (same run: attempts carried)
    a killed process's committed result with its claim still on the remote
          ── outbox.adopt ──▶ in the outbox ── outbox.flush ──▶ done
    a claim found beside a done run ── outbox.finish (recorded if the index lacks it) ──▶ done

Modules: `claims` (the Claim value and its pure transitions), `protocol` (the remote's view
and the pushes), `acquire` (the claim step), `lease` (ClaimKeeper, the heartbeat), `outbox` and
`state` (results that wait for the remote, local state that survives a crash), `done` (the
done index, refs/mtor/done: every finished run, read without its branch).
"""
