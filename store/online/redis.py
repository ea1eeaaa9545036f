"""Redis as the online store (``online: redis://host:port/db`` in ``featurestore.yaml``).

One hash per record, ``<prefix><group>:r:<id>``: ``e`` event time, ``w`` write time, ``x``
expiry (absent: none), ``d`` tombstone flag, ``v`` the features as a JSON list in the order of the
definition version ``n`` it was written under (absent: 1, so a group never changed is stored as
before versions). A record written under an earlier
version is read into the current one by feature id (see ``model.versions``): a definition change
rewrites nothing here, and a write delayed past a change still lands whole. Per group, sorted sets of identifiers for paging and
counting: ``all`` (every stored row), ``live`` (not tombstones) and ``exp`` (live rows with a
TTL, scored by expiry); integer identifiers are scored by value, so paging orders them exactly up
to 2**53, text ones by bytes. Numbers stay the text they were written as: Lua only compares them.
A group keyed by several columns names a record by the compact JSON array of its key's values in
key order (``["m1",7]``, see ``model.keys.as_text``), and pages in the byte order of that text
(which is not the columns' order: ``[10]`` sorts before ``[9]``).

The newest-wins rule runs inside Redis, in a Lua script, so concurrent writers and late replays
cannot let an older event overwrite a newer one (Feast's Redis store writes blindly). TTL is a
Redis expiry on the record's key plus the read-time check. Writes arrive through the store's
outbox (see ``base``): each is applied after its SQLite transaction commits, and again, harmlessly,
if a crash left it unconfirmed. A hard delete or a group drop carries its write time and spares
rows written after it, so a replay never removes a later write. A feature service's vector reads
every group's records in one script call (``many_groups``), so it is one snapshot.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..databases import Connection
from ..errors import ValidationError
from ..model import keys
from ..model.schema import FeatureGroup
from .base import Reader, Row
from .outbox import OutboxBackend

if TYPE_CHECKING:
    from ..databases import Database

PAYLOAD_ROWS = 5_000  # rows per outbox entry and per script call

UPSERT = """
local p, now, n, written = KEYS[1], tonumber(ARGV[1]), ARGV[2], 0
for i = 3, #ARGV, 7 do
  local id, score, e, w, x, d, v = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5], ARGV[i+6]
  local key = p .. ':r:' .. id
  local cur = redis.call('HMGET', key, 'e', 'w', 'x')
  local take = true
  if cur[1] then
    local alive = (not cur[3]) or tonumber(cur[3]) > now
    local ne, ce = tonumber(e), tonumber(cur[1])
    if alive and (ne < ce or (ne == ce and tonumber(w) < tonumber(cur[2]))) then take = false end
  end
  if take then
    redis.call('DEL', key)
    redis.call('HSET', key, 'e', e, 'w', w, 'd', d, 'v', v)
    if n ~= '1' then redis.call('HSET', key, 'n', n) end
    redis.call('ZADD', p .. ':all', score, id)
    if d == '1' then redis.call('ZREM', p .. ':live', id) else redis.call('ZADD', p .. ':live', score, id) end
    if x ~= '' and d ~= '1' then
      redis.call('HSET', key, 'x', x)
      redis.call('ZADD', p .. ':exp', x, id)
      redis.call('PEXPIREAT', key, math.floor(tonumber(x) / 1000) + 1)
    else
      redis.call('ZREM', p .. ':exp', id)
    end
    written = written + 1
  end
end
return written
"""

# ARGV: write time of the removal, now, then identifiers; mode "hard" (a hard delete: spares a
# live row at or after its event, given as ARGV[3]) or "expired" (only rows whose TTL has passed).
REMOVE = """
local p, mode, w, now = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local removed = 0
for i = 5, #ARGV do
  local id = ARGV[i]
  local key = p .. ':r:' .. id
  local cur = redis.call('HMGET', key, 'e', 'w', 'x', 'd')
  local go = true
  if cur[1] then
    if tonumber(cur[2]) > w then go = false end
    local alive = (not cur[3]) or tonumber(cur[3]) > now
    if mode == 'hard' and alive and cur[4] == '0' and tonumber(cur[1]) >= tonumber(ARGV[4]) then go = false end
    if mode == 'expired' and alive then go = false end
  end
  if go then
    redis.call('DEL', key)
    redis.call('ZREM', p .. ':all', id)
    redis.call('ZREM', p .. ':live', id)
    redis.call('ZREM', p .. ':exp', id)
    removed = removed + 1
  end
end
return removed
"""


# The rows of many records in one call: a script costs the client one command, not one per key;
# and Redis runs a script whole, with no other command between, so its answer is one snapshot.
GET_MANY = """
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HMGET', KEYS[i], 'x', 'd', 'v', 'n') end
return out
"""


class RedisOnline(OutboxBackend):
    name = "redis"

    def __init__(self, url: str, prefix: str, conns: "Database") -> None:
        try:
            import redis
        except ImportError:
            raise ValidationError("online: redis:// needs the redis client (pip install 'featurestore[redis]')") from None
        self.url, self.prefix = url, prefix
        self.client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=30)
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise ValidationError(f"Cannot reach the online store at {url}: {exc}; start Redis or fix "
                                  "online: in featurestore.yaml") from None
        super().__init__(conns)
        self._upsert = self.client.register_script(UPSERT)
        self._remove = self.client.register_script(REMOVE)
        self._get_many = self.client.register_script(GET_MANY)

    def _key(self, group: str) -> str:
        return f"{self.prefix}{group}"

    # -- writes, through the outbox (see ``outbox``) ---------------------------------------

    def upsert(self, conn: Connection, group: FeatureGroup, rows: Sequence[Row], now_us: int) -> None:
        if group.composite:
            positions = [4 + group.feature_names.index(k) for k in group.identifiers]
            chunk_of = lambda part: [[keys.as_text([r[p] for p in positions]), 0, r[0], r[1], r[2], r[3],  # noqa: E731
                                      list(r[4:])] for r in part]
        else:
            integral = group.id_features[0].type == "Integral"
            rid = 4 + group.feature_names.index(group.identifiers[0])
            chunk_of = lambda part: [[_text(r[rid]), r[rid] if integral else 0, r[0], r[1], r[2], r[3],  # noqa: E731
                                      list(r[4:])] for r in part]
        for start in range(0, len(rows), PAYLOAD_ROWS):
            chunk = chunk_of(rows[start:start + PAYLOAD_ROWS])
            self._record(conn, group.name, "upsert", {"n": group.version, "rows": chunk})

    def change(self, conn: Connection, old: FeatureGroup, new: FeatureGroup) -> None:
        """Nothing to rewrite: each record says the version it was written under (see the module docstring)."""

    def remove(self, conn: Connection, group: FeatureGroup, record_id: Any, event_us: int,
               write_us: int) -> None:
        self._record(conn, group.name, "hard", [write_us, event_us, _text(record_id, group)])

    def remove_expired(self, conn: Connection, group: FeatureGroup, records: list[tuple[Any, int]],
                       now_us: int) -> None:
        ids = [_text(r, group) for r, _ in records]
        for start in range(0, len(ids), PAYLOAD_ROWS):
            self._record(conn, group.name, "expired", [now_us, ids[start:start + PAYLOAD_ROWS]])

    def drop(self, conn: Connection, group: FeatureGroup) -> None:
        from ..common.timeutil import now_us

        self._record(conn, group.name, "drop", now_us())

    def _apply(self, group: str, op: str, payload: Any) -> None:
        from ..common.timeutil import now_us

        key = self._key(group)
        if op == "upsert":  # {"n": version, "rows": [...]}; a list of rows from before versions: version 1
            version, rows = (payload["n"], payload["rows"]) if isinstance(payload, dict) else (1, payload)
            args: list[Any] = [now_us(), version]
            for rid, score, e, w, x, d, values in rows:
                args += [rid, score, e, w, "" if x is None else x, d, json.dumps(values)]
            self._upsert(keys=[key], args=args)
        elif op == "hard":
            w, event_us, rid = payload
            self._remove(keys=[key], args=["hard", w, now_us(), event_us, rid])
        elif op == "expired":
            now, ids = payload
            self._remove(keys=[key], args=["expired", now, now_us(), 0, *ids])
        elif op == "drop":
            self._drop(key, payload)

    def _drop(self, key: str, write_us: int) -> None:
        """Every record of a deleted group written before the drop (a namesake's later rows stay)."""
        for members in _chunks(self.client.zrange(f"{key}:all", 0, -1), 1000):
            self._remove(keys=[key], args=["drop", write_us, 0, 0, *members])

    # -- reads ----------------------------------------------------------------------------

    def current(self, conn: Connection, group: FeatureGroup, record_id: Any) -> tuple[int, int, int | None] | None:
        e, d, x = self.client.hmget(f"{self._key(group.name)}:r:{_text(record_id, group)}", "e", "d", "x")
        return None if e is None else (int(e), int(d), None if x is None else int(x))

    def get(self, group: FeatureGroup, record_id: Any, now_us: int) -> Row | None:
        found = self.client.hmget(f"{self._key(group.name)}:r:{_text(record_id, group)}", "x", "d", "v", "n")
        return self._live(group, found, now_us)

    def get_many(self, group: FeatureGroup, record_ids: Sequence[Any], now_us: int) -> dict[Any, Row]:
        key = self._key(group.name)
        out = {}
        for start in range(0, len(record_ids), 1000):
            chunk = record_ids[start:start + 1000]
            found = self._get_many(keys=[f"{key}:r:{_text(rid, group)}" for rid in chunk])
            for rid, fields in zip(chunk, found):
                row = self._live(group, fields, now_us)
                if row is not None:
                    out[rid] = row
        return out

    def many_groups(self, requests: Sequence[tuple[Reader, Sequence[Any]]],
                    now_us: int) -> list[tuple[dict[Any, Row], set[Any]]]:
        """Every group's records in ONE script call, however many groups and identifiers: Redis
        runs a script atomically, so the answer is one snapshot. A record past its TTL is
        reported as expired while Redis still holds it (its key expires a millisecond after the
        TTL); once Redis has dropped it, it is simply not found."""
        keys = [f"{self._key(reader.group.name)}:r:{_text(rid, reader.group)}" for reader, ids in requests
                for rid in ids]
        found = iter(self._script(self._get_many, keys) if keys else ())
        out = []
        for reader, ids in requests:
            live, expired = {}, set()
            for rid in ids:
                x, d, v, n = next(found)
                if v is None or d == "1":
                    continue
                if x is not None and int(x) <= now_us:
                    expired.add(rid)
                else:
                    live[rid] = self._values(reader.group, v, n)
            out.append((live, expired))
        return out

    def _script(self, script: Any, keys: list[str]) -> Any:
        """``script`` on ``keys`` in one command: EVALSHA, or EVAL (which also loads it) where the
        server does not know it yet (a first call, a restarted server, a SCRIPT FLUSH)."""
        from redis.exceptions import NoScriptError

        try:
            return self.client.evalsha(script.sha, len(keys), *keys)
        except NoScriptError:
            return self.client.eval(script.script, len(keys), *keys)

    def _live(self, group: FeatureGroup, found: list, now_us: int) -> Row | None:
        x, d, v, n = found
        if v is None or d == "1" or (x is not None and int(x) <= now_us):
            return None
        return (None if x is None else int(x), *self._values(group, v, n))

    def _values(self, group: FeatureGroup, v: str, n: str | None) -> list:
        """A record's stored list as ``group``'s features (see the module docstring)."""
        values = json.loads(v)
        version = 1 if n is None else int(n)
        if version == group.version:
            return _padded(values, len(group.features))
        from ..model.versions import translate

        kept = [self._version(group, v) for v in range(version, group.version + 1)]  # cached
        through = frozenset(i for g in kept for f, i in zip(g.features, g.ids) if f.type == "Fractional")
        return translate(values, kept[0], group, through)

    def raw(self, group: FeatureGroup, record_id: Any) -> dict[str, Any] | None:
        data = self.client.hgetall(f"{self._key(group.name)}:r:{_text(record_id, group)}")
        if not data:
            return None
        values = self._values(group, data["v"], data.get("n"))
        return {"_event_us": int(data["e"]), "_write_us": int(data["w"]),
                "_expires_us": int(data["x"]) if "x" in data else None, "_deleted": int(data["d"]),
                **dict(zip(group.feature_names, values))}

    def ids(self, group: FeatureGroup, now_us: int, after: Any, limit: int, include_deleted: bool) -> list[Any]:
        key = self._key(group.name)
        source = f"{key}:{'all' if include_deleted else 'live'}"
        integral = not group.composite and group.id_features[0].type == "Integral"
        member_id = _member(group)
        out: list[Any] = []
        cursor = _text(after, group) if group.composite and after is not None else after
        while len(out) < limit:
            if integral:
                low = "-inf" if cursor is None else f"({int(cursor)}"
                batch = self.client.zrangebyscore(source, low, "+inf", start=0, num=limit)
            else:
                low = "-" if cursor is None else f"({cursor}"
                batch = self.client.zrangebylex(source, low, "+", start=0, num=limit)
            if not batch:
                break
            expiry = self.client.zmscore(f"{key}:exp", batch)
            for member, x in zip(batch, expiry):
                if x is None or x > now_us:
                    out.append(member_id(member))
            cursor = int(batch[-1]) if integral else batch[-1]
        return out[:limit]

    def count(self, group: FeatureGroup, now_us: int) -> int:
        key = self._key(group.name)
        pipe = self.client.pipeline(transaction=False)
        pipe.zcard(f"{key}:live")
        pipe.zcount(f"{key}:exp", "-inf", now_us)
        live, expired = pipe.execute()
        return live - expired

    def expired(self, conn: Connection, group: FeatureGroup, now_us: int) -> list[tuple[Any, int]]:
        member_id = _member(group)
        found = self.client.zrangebyscore(f"{self._key(group.name)}:exp", "-inf", now_us, withscores=True)
        return [(member_id(m), int(x)) for m, x in found]

    def close(self) -> None:
        super().close()
        self.client.close()


def _text(record_id: Any, group: FeatureGroup | None = None) -> str:
    """A record's id part of its key: the value as text, or a composite key's JSON array text."""
    return keys.as_text(record_id) if group is not None and group.composite else str(record_id)


def _member(group: FeatureGroup) -> Callable[[str], Any]:
    """A sorted-set member back as the group's key (a tuple for a composite key)."""
    if group.composite:
        return lambda m: tuple(json.loads(m))
    return int if group.id_features[0].type == "Integral" else str


def _padded(values: list, n: int) -> list:
    return values + [None] * (n - len(values)) if len(values) < n else values[:n]


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]
