"""Automatic lead allocation: the cycle of S-5 held in Redis, with the guarantees of S-6.

The cycle
---------
Eligible consultants are ordered by weight descending, ties by user id; round
r (0, 1, ...) gives one slot to every consultant whose ``num > r``. A(7, 2),
B(5, 5) gives ``A B A B B B B``, then the cycle repeats.

A consultant is eligible on a given day when all of these hold:

* they have a SaleRank row with ``active`` true;
* their user account is active (``users.active``);
* they are not on leave: ``on_leave_until`` is empty or **before** today.
  ``on_leave_until`` is the last day of leave, inclusive: on leave until
  10 March means no leads on 10 March and leads again from 11 March.

Redis layout (all keys under ``redis.key("alloc", ...)``)
----------------------------------------------------------
``alloc:queue``  list: the slots still to hand out, head first.
``alloc:cycle``  list: one full cycle, copied into the queue when it runs dry.
``alloc:state``  hash: ``built_for`` ("<gen>|<date>"), ``digest`` (SHA-1 of the
                 cycle), ``size`` (cycle length), ``fresh_until`` (epoch seconds).
``alloc:gen``    counter bumped by :func:`mark_table_changed`.

One allocation is one Redis round trip
--------------------------------------
:func:`allocate` runs one Lua script (EVALSHA) that checks the stamp and pops
n slots, refilling the queue from ``alloc:cycle`` as often as needed (a batch
may wrap across cycles). The stamp it checks needs no database query: it is
``"<gen>|<today>"`` where ``gen`` is read inside the script and ``today`` is
computed locally, plus a ``fresh_until`` deadline (``CRM_ALLOCATION_RECHECK_SECONDS``,
default 60) after which the table is re-read once anyway, so even changes made
behind the ORM's back (raw SQL, a restored backup) take effect within a minute.
The eligible set can only change through the table (``gen``), the date
(leave), or an account being (de)activated, which the ORM listener below turns
into a ``gen`` bump after commit.

Rebuilding, and why concurrent rebuilds neither double nor lose a slot
---------------------------------------------------------------------
When the script answers "stale" (state missing after a flush or restart, new
generation, new day, or recheck due) it also returns the generation it saw.
The caller then reads the eligible table from the database and calls the
rebuild script with that generation. The rebuild script, atomically:

1. refuses when the generation moved on since the caller read it (the table
   changed while we were reading it; the caller reads again), so a slow reader
   can never install an older table over a newer one stamped with the new
   generation. :func:`mark_table_changed` must therefore run *after* the
   table's transaction committed; anyone who reads the new generation then
   also reads the new table;
2. keeps the queue untouched when the cycle it is given has the same digest
   as the installed one: a second process that raced to rebuild the same
   table, a new day on which nobody's leave changed, or a periodic recheck
   only re-stamp the state. This is what keeps concurrent rebuilds from
   handing out the same slots twice: a queue in use is never replaced by an
   identical fresh copy;
3. otherwise replaces cycle and queue together: a changed table starts a new
   cycle at once (S-5); the unused rest of the old cycle is dropped on purpose.

Allocation and rebuild are both single scripts, so Redis serialises them: every
slot that was ever in a queue is popped by exactly one caller.

Returning slots
---------------
When the transaction that was to save the lead fails, :func:`return_slots`
pushes the slots back to the head of the queue in their original order, so
the same consultant gets the next lead. Slots of consultants who are no longer
in the current cycle are dropped (the table changed meanwhile).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterable, Sequence

import redis as redis_lib
import sqlalchemy as sa
from flask import Flask, current_app
from redis.exceptions import NoScriptError

from crm.auth.models import User
from crm.core import clock, uow
from crm.extensions import db, redis
from crm.sales.models import SaleRank

log = logging.getLogger(__name__)

_REBUILD_ATTEMPTS = 20
_CHUNK = 1000  # values per RPUSH inside the scripts (Lua's unpack has a stack limit)

# KEYS: queue, cycle, state, gen   ARGV: today, n, now
# Returns "+" followed by the ids joined by "," ("+" alone: nobody eligible), or "-<gen>" when the
# queue is stale. One flat string is the cheapest reply to send and parse on the hot path.
_ALLOCATE_LUA = """
local gen = redis.call('GET', KEYS[4]) or '0'
local state = redis.call('HMGET', KEYS[3], 'built_for', 'size', 'fresh_until')
if state[1] ~= (gen .. '|' .. ARGV[1]) or not state[2]
   or tonumber(state[3] or '0') < tonumber(ARGV[3]) then
  return '-' .. gen
end
local size = tonumber(state[2])
if size == 0 then
  return '+'
end
if redis.call('LLEN', KEYS[2]) ~= size then
  return '-' .. gen
end
local n = tonumber(ARGV[2])
local out = {}
while #out < n do
  local got = redis.call('LPOP', KEYS[1], n - #out)
  if got then
    for i = 1, #got do out[#out + 1] = got[i] end
  else
    -- the cycle ran out: the next one starts (a batch may span several cycles)
    for first = 0, size - 1, %(chunk)d do
      local part = redis.call('LRANGE', KEYS[2], first, first + %(chunk)d - 1)
      redis.call('RPUSH', KEYS[1], unpack(part))
    end
  end
end
return '+' .. table.concat(out, ',')
""" % {"chunk": _CHUNK}

# KEYS: queue, cycle, state, gen   ARGV: expected gen, built_for, digest, fresh_until, new_cycle, ids...
# Returns 1 when installed or kept, 0 when the generation moved on (read the table again).
_REBUILD_LUA = """
local gen = redis.call('GET', KEYS[4]) or '0'
if gen ~= ARGV[1] then
  return 0
end
local n = #ARGV - 5
local same = ARGV[5] == '0'
  and redis.call('HGET', KEYS[3], 'digest') == ARGV[3]
  and tonumber(redis.call('HGET', KEYS[3], 'size') or '-1') == n
  and redis.call('LLEN', KEYS[2]) == n
if not same then
  redis.call('DEL', KEYS[1], KEYS[2])
  for first = 6, #ARGV, %(chunk)d do
    local last = math.min(first + %(chunk)d - 1, #ARGV)
    redis.call('RPUSH', KEYS[2], unpack(ARGV, first, last))
    redis.call('RPUSH', KEYS[1], unpack(ARGV, first, last))
  end
end
redis.call('HSET', KEYS[3], 'built_for', ARGV[2], 'digest', ARGV[3], 'size', n, 'fresh_until', ARGV[4])
if same then return 2 end
return 1
""" % {"chunk": _CHUNK}

# KEYS: queue, cycle   ARGV: ids in their original order
_RETURN_LUA = """
local keep = {}
for i = #ARGV, 1, -1 do
  if redis.call('LPOS', KEYS[2], ARGV[i]) then keep[#keep + 1] = ARGV[i] end
end
for first = 1, #keep, %(chunk)d do
  redis.call('LPUSH', KEYS[1], unpack(keep, first, math.min(first + %(chunk)d - 1, #keep)))
end
return #keep
""" % {"chunk": _CHUNK}


# -- pure rules --------------------------------------------------------------------------------
def build_cycle(rows: Iterable[tuple[int, int, int]]) -> list[int]:
    """One cycle from (user_id, weight, num) rows: weight desc, ties by id, round by round (S-5)."""
    ordered = sorted(rows, key=lambda row: (-row[1], row[0]))
    cycle: list[int] = []
    rounds = max((num for _, _, num in ordered), default=0)
    for r in range(rounds):
        cycle.extend(user_id for user_id, _weight, num in ordered if num > r)
    return cycle


def cycle_digest(cycle: Sequence[int]) -> str:
    """A short fingerprint of a cycle, to tell an unchanged table from a changed one."""
    return hashlib.sha1(",".join(map(str, cycle)).encode()).hexdigest()


def eligible_rows(today: dt.date) -> list[tuple[int, int, int]]:
    """(user_id, weight, num) of every consultant eligible on `today` (see module docstring)."""
    query = (
        sa.select(SaleRank.user_id, SaleRank.weight, SaleRank.num)
        .join(User, User.id == SaleRank.user_id)
        .where(
            SaleRank.active.is_(True),
            User.active.is_(True),
            sa.or_(SaleRank.on_leave_until.is_(None), SaleRank.on_leave_until < today),
        )
    )
    return [tuple(row) for row in db.session.execute(query)]


def current_cycle(today: dt.date | None = None) -> list[int]:
    """The full cycle the table gives on `today`, read from the database."""
    return build_cycle(eligible_rows(today or clock.today()))


# -- Redis plumbing ----------------------------------------------------------------------------
def _keys() -> list[str]:
    """queue, cycle, state and gen keys of this app (computed once: allocation is a hot path)."""
    keys = current_app.extensions.get("crm_alloc_keys")
    if keys is None:
        keys = [redis.key("alloc", "queue"), redis.key("alloc", "cycle"), redis.key("alloc", "state"),
                redis.key("alloc", "gen")]
        current_app.extensions["crm_alloc_keys"] = keys
    return keys


def _scripts():
    """The registered scripts of this app's client (EVALSHA; reloaded automatically after a flush)."""
    scripts = current_app.extensions.get("crm_alloc_scripts")
    if scripts is None:
        client = redis.client
        scripts = (
            client.register_script(_ALLOCATE_LUA),
            client.register_script(_REBUILD_LUA),
            client.register_script(_RETURN_LUA),
        )
        current_app.extensions["crm_alloc_scripts"] = scripts
    return scripts


def _recheck_seconds() -> int:
    return int(current_app.config["CRM_ALLOCATION_RECHECK_SECONDS"])


def _install(expected_gen: str, today: dt.date, *, new_cycle: bool) -> tuple[bool, int]:
    """Read the table and run the rebuild script; (installed?, cycle length)."""
    cycle = current_cycle(today)
    fresh_until = int(time.time()) + _recheck_seconds()
    _, rebuild_script, _ = _scripts()
    result = rebuild_script(
        keys=_keys(),
        args=[expected_gen, f"{expected_gen}|{today.isoformat()}", cycle_digest(cycle), fresh_until,
              "1" if new_cycle else "0", *cycle],
    )
    return int(result) != 0, len(cycle)


def _current_gen() -> str:
    return redis.client.get(redis.key("alloc", "gen")) or "0"


# -- public interface --------------------------------------------------------------------------
def _run_allocate_script(client, script, keys, day: str, n: int):
    """EVALSHA straight on the client (the hot path; Script.__call__ adds measurable overhead)."""
    args = (*keys, day, n, int(time.time()))
    try:
        return client.evalsha(script.sha, 4, *args)
    except NoScriptError:  # the server lost its script cache (restart, SCRIPT FLUSH): load and retry
        client.script_load(script.script)
        return client.evalsha(script.sha, 4, *args)


def _take(n: int, today: dt.date) -> list[int]:
    """Run the allocation script (n = 0 only checks the stamp), rebuilding while it is stale."""
    script = _scripts()[0]
    client, keys, day = script.registered_client, _keys(), today.isoformat()
    for _attempt in range(_REBUILD_ATTEMPTS):
        reply = _run_allocate_script(client, script, keys, day, n)
        if isinstance(reply, bytes):  # a client without decode_responses
            reply = reply.decode()
        if reply[0] == "+":
            return [int(value) for value in reply[1:].split(",")] if len(reply) > 1 else []
        _install(reply[1:], today, new_cycle=False)
    raise RuntimeError("the allocation table kept changing while the queue was rebuilt; try again")


def _ensure_fresh(today: dt.date) -> None:
    _take(0, today)


def allocate(n: int = 1, *, today: dt.date | None = None) -> list[int | None]:
    """Take the next n slots of the cycle in one atomic step; [None] * n when nobody is eligible."""
    if n < 1:
        raise ValueError("allocate needs n >= 1")
    ids = _take(n, today or clock.today())
    return list(ids) if ids else [None] * n


def allocate_or_pool(n: int = 1, *, today: dt.date | None = None) -> list[int | None]:
    """allocate(n), or n empty slots when Redis cannot be reached.

    A lead is never lost (S-6): while the queue is unreachable, new leads are
    saved unassigned, in the public pool, and the outage is logged.
    """
    return allocate_noting_outage(n, today=today)[0]


def allocate_noting_outage(n: int = 1, *, today: dt.date | None = None) -> tuple[list[int | None], bool]:
    """(slots, reachable): allocate_or_pool's slots and whether the queue answered.

    `reachable` is False when the slots are empty because Redis is down (not because nobody is
    eligible), so a caller can say why the lead went to the pool.
    """
    try:
        return allocate(n, today=today), True
    except redis_lib.RedisError as error:
        log.warning("allocation queue unreachable (%s); %d lead(s) go to the public pool unassigned", error, n)
        return [None] * n, False


def return_slots(user_ids: list[int | None]) -> None:
    """Push slots back to the head of the queue in their original order (the save failed)."""
    ids = [str(user_id) for user_id in user_ids if user_id is not None]
    if not ids:
        return
    _, _, return_script = _scripts()
    queue, cycle, _state, _gen = _keys()
    try:
        return_script(keys=[queue, cycle], args=ids)
    except redis_lib.RedisError:
        # The lead was not saved either way; losing a returned turn beats hiding the real error.
        log.exception("could not return allocation slots %s", ids)


def cycle_preview(limit: int = 50, *, today: dt.date | None = None) -> list[int]:
    """The next `limit` slots in order: what is left of the current cycle, then the next cycles."""
    today = today or clock.today()
    _ensure_fresh(today)
    queue_key, cycle_key, _state, _gen = _keys()
    pipe = redis.client.pipeline(transaction=True)
    pipe.lrange(queue_key, 0, max(limit - 1, 0))
    pipe.lrange(cycle_key, 0, -1)
    head, cycle = pipe.execute()
    upcoming = [int(value) for value in head]
    cycle_ids = [int(value) for value in cycle]
    while cycle_ids and len(upcoming) < limit:
        upcoming.extend(cycle_ids)
    return upcoming[:limit]


def rebuild(*, today: dt.date | None = None, new_cycle: bool = True) -> int:
    """Rebuild the queue from the table now; returns the cycle length (CLI rebuild-allocation).

    With `new_cycle` (the default) the next allocation starts a fresh cycle even
    when the table did not change; without it an unchanged cycle keeps its place.
    """
    today = today or clock.today()
    for _attempt in range(_REBUILD_ATTEMPTS):
        installed, length = _install(_current_gen(), today, new_cycle=new_cycle)
        if installed:
            return length
    raise RuntimeError("the allocation table kept changing while the queue was rebuilt; try again")


def mark_table_changed() -> None:
    """Start a new cycle from the table at the next allocation; call after the change committed."""
    redis.client.incr(redis.key("alloc", "gen"))


def reset_state() -> None:
    """Forget the queue entirely (tests, and recovering by hand); the next allocation rebuilds."""
    redis.client.delete(*_keys())


# -- keep the queue in step with ORM changes ---------------------------------------------------
_REGISTERED = "crm_allocation_change_registered"


def _touches_allocation(session) -> bool:
    for obj in session.deleted:
        if isinstance(obj, (SaleRank, User)):
            return True
    for obj in session.new:
        if isinstance(obj, SaleRank):
            return True
    for obj in session.dirty:
        if isinstance(obj, SaleRank) and session.is_modified(obj):
            return True
        if isinstance(obj, User) and sa.inspect(obj).attrs.active.history.has_changes():
            return True
    return False


def _mark_changed_quietly() -> None:
    try:
        mark_table_changed()
    except (redis_lib.RedisError, RuntimeError) as error:
        # The periodic recheck (CRM_ALLOCATION_RECHECK_SECONDS) still picks the change up; no
        # traceback, since this is expected when Redis is not up yet (e.g. `make run` seeding).
        log.warning("could not mark the allocation table changed (%s); the queue is re-read within %s s",
                    error, _recheck_seconds())


def _before_flush(session, _flush_context, _instances) -> None:
    """A flush that changes the table or an account's activity bumps the generation after commit."""
    if not _touches_allocation(session):
        return
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is not None and session.info.get(_REGISTERED) is transaction:
        return  # already registered for this transaction
    session.info[_REGISTERED] = transaction
    uow.after_commit(_mark_changed_quietly, session=session)


def init_app(app: Flask) -> None:
    """Bump the allocation generation after any commit that changed SaleRank rows or account activity."""
    from sqlalchemy.orm import Session

    if not sa.event.contains(Session, "before_flush", _before_flush):
        sa.event.listen(Session, "before_flush", _before_flush)
