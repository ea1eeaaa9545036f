"""Definition versions against a brute-force model: random histories of writes interleaved with
features added, dropped, renamed and widened, checked for get, as_of, known_at, datasets and the
rebuild of a recorded dataset after later changes (spec: semantics.md, "Feature groups").

The model keeps every row's values by feature id, as they were written, and every definition
with the write clock at which it came into force; a read converts each value into the definition
it is read under (by id; widened as ``model.versions`` says: Python's repr for a float as text).
"""
from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, strategies as st

from store import Feature, FeatureStore
from store.errors import ValidationError

from test_property import canon, frame_rows, property_settings

GROUP = "g"
BASE_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
SLOTS = [BASE_US + k * 3_600_000_000 for k in range(6)]
# Record keys by layout: a group keyed by one column, and one keyed by (id, part).
KEYS = {False: [0, 1, 2, 3, 4], True: [(0, "a"), (0, "b"), (1, "a"), (2, "b"), (3, "a")]}
RIDS = range(5)  # indices into KEYS[composite]
NAMES = ["a", "b", "c", "d", "e", "f", "g2", "h"]  # names features take (a, b, c at first)
WIDER = {"Integral": ["Fractional", "String"], "Fractional": ["String"], "String": []}


def iso(us: int) -> str:
    return pd.Timestamp(us, unit="us", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def widen(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "Fractional":
        return float(value)
    if kind == "String" and not isinstance(value, str):
        return repr(value) if isinstance(value, float) else str(value)
    return value


@dataclass
class Definition:
    features: list[tuple[int, str, str]]  # (id, name, type), id/ts first
    op: int  # the write clock (operation index) it came into force at


def key_columns(composite: bool) -> list[tuple[str, str]]:
    return [("id", "Integral"), ("part", "String")] if composite else [("id", "Integral")]


def key_fields(composite: bool, rid: int) -> dict[str, Any]:
    """The key's columns of record ``rid`` (an index into KEYS)."""
    key = KEYS[composite][rid]
    return dict(zip(("id", "part"), key)) if composite else {"id": key}


class Model:
    def __init__(self, composite: bool) -> None:
        self.composite = composite
        fixed = [*key_columns(composite), ("ts", "String")]
        self.fixed = {name for name, _ in fixed}  # the key and the event time: never changed
        self.defs = [Definition([(i + 1, n, k) for i, (n, k) in enumerate(
            [*fixed, ("a", "Integral"), ("b", "Fractional"), ("c", "String")])], 0)]
        self.rows: list[tuple] = []  # rid, ev, op, seq, deleted, values by id, the definition written under
        self.next_id = len(self.defs[0].features) + 1
        self.seq = 0

    def others(self, d: Definition) -> list[tuple[int, str, str]]:
        return [f for f in d.features if f[1] not in self.fixed]

    @property
    def current(self) -> Definition:
        return self.defs[-1]

    def at(self, op: int | None) -> Definition:
        return self.current if op is None else [d for d in self.defs if d.op <= op][-1]

    def write(self, op: int, rid: int, ev: int, values: dict[str, Any], deleted: bool = False) -> None:
        by_name = {name: fid for fid, name, _ in self.current.features}
        self.seq += 1
        self.rows.append((rid, ev, op, self.seq, deleted, {by_name[k]: v for k, v in values.items()},
                          len(self.defs) - 1))

    def read(self, row: tuple, d: Definition) -> dict[str, Any]:
        """The row under ``d``: each value widened through every definition from the one it was
        written under to ``d`` (Integral 10**12, then Fractional, then String reads
        '1000000000000.0', as a Fractional 1e12 written later does)."""
        upto = next(i for i, e in enumerate(self.defs) if e is d)
        out = {}
        for fid, name, kind in self.others(d):
            value = row[5].get(fid)
            for between in self.defs[row[6]:upto + 1]:
                value = widen(value, next((k for f, _, k in between.features if f == fid), kind))
            out[name] = value
        return out | key_fields(self.composite, row[0]) | {"ts": iso(row[1])}

    def latest(self, rid: int, ev: int | None, known: int | None) -> tuple | None:
        rows = [r for r in self.rows if r[0] == rid and (ev is None or r[1] <= ev) and (known is None or r[2] <= known)]
        return max(rows, key=lambda r: (r[1], r[2], r[3]), default=None)

    def get(self, rid: int) -> dict[str, Any] | None:
        row = self.latest(rid, None, None)
        return None if row is None or row[4] else self.read(row, self.current)

    def as_of(self, ev: int | None, known: int | None) -> list[dict[str, Any]]:
        d = self.at(known)
        out = []
        for rid in RIDS:
            row = self.latest(rid, ev, known)
            if row is not None and not row[4]:
                out.append(self.read(row, d))
        return out


# ----------------------------------------------------------------------------- operations

VALUES = {"Integral": [-5, 0, 7, 10**12, 42], "Fractional": [0.5, -2.25, 3.0, 1e16, 0.1, 7.0],
          "String": ["x", "007", "é", "", "3.0"]}


@dataclass(frozen=True)
class Write:
    rid: int
    slot: int
    seed: int  # picks the values
    deleted: bool


@dataclass(frozen=True)
class Change:
    kind: str  # add, drop, rename, retype
    pick: int  # which feature
    seed: int


@dataclass(frozen=True)
class Flush:
    compact: bool


operation = st.one_of(
    st.builds(Write, st.sampled_from(RIDS), st.integers(0, len(SLOTS) - 1), st.integers(0, 10**6),
              st.sampled_from([False, False, False, True])),
    st.builds(Change, st.sampled_from(["add", "drop", "rename", "retype"]), st.integers(0, 20), st.integers(0, 10**6)),
    st.builds(Flush, st.booleans()),
)


class Harness:
    def __init__(self, composite: bool) -> None:
        self.dir = tempfile.mkdtemp(prefix="fs-versions-")
        self.fs = FeatureStore(self.dir)
        self.composite = composite
        keys = key_columns(composite)
        self.fs.create_feature_group(GROUP, [n for n, _ in keys] if composite else "id", "ts",
                                     [*(Feature(n, k) for n, k in keys), Feature("ts", "String"),
                                      Feature("a", "Integral"), Feature("b", "Fractional"), Feature("c", "String")])
        self.model = Model(composite)
        self.clock = [self.fs.describe(GROUP, storage=False)["last_write_us"] or 0]  # write clock after op k

    def close(self) -> None:
        self.fs.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def values(self, seed: int) -> dict[str, Any]:
        import random

        rnd = random.Random(seed)
        out = {}
        for _, name, kind in self.model.others(self.model.current):
            if rnd.random() < 0.2:
                out[name] = None
            else:
                out[name] = rnd.choice(VALUES[kind])
        return out

    def apply(self, op: Any) -> None:
        k = len(self.clock)
        if isinstance(op, Write):
            if op.deleted:
                self.fs.delete_record(GROUP, KEYS[self.composite][op.rid], iso(SLOTS[op.slot]))
                self.model.write(k, op.rid, SLOTS[op.slot], {}, deleted=True)
            else:
                values = self.values(op.seed)
                self.fs.put_record(GROUP, {**key_fields(self.composite, op.rid), "ts": iso(SLOTS[op.slot]), **values})
                self.model.write(k, op.rid, SLOTS[op.slot], values)
        elif isinstance(op, Flush):
            self.fs.compact(GROUP) if op.compact else self.fs.flush(GROUP)
        else:
            self.change(op, k)
        self.clock.append(self.fs.describe(GROUP, storage=False)["last_write_us"] or 0)

    def change(self, op: Change, k: int) -> None:
        cur = self.model.current.features
        free = [n for n in NAMES if n not in {name for _, name, _ in cur}]
        others = self.model.others(self.model.current)
        target = others[op.pick % len(others)] if others else None
        new = list(cur)
        if op.kind == "add" and free:
            kind = ["Integral", "Fractional", "String"][op.seed % 3]
            self.fs.add_features(GROUP, [Feature(free[0], kind)])
            new.append((self.model.next_id, free[0], kind))
            self.model.next_id += 1
        elif op.kind == "drop" and len(others) > 1:
            self.fs.change_features(GROUP, drop=[target[1]])
            new.remove(target)
        elif op.kind == "rename" and free and target:
            name = free[op.seed % len(free)]
            self.fs.change_features(GROUP, rename={target[1]: name})
            new[new.index(target)] = (target[0], name, target[2])
        elif op.kind == "retype" and target and WIDER[target[2]]:
            kind = WIDER[target[2]][op.seed % len(WIDER[target[2]])]
            self.fs.change_features(GROUP, retype={target[1]: kind})
            new[new.index(target)] = (target[0], target[1], kind)
        else:
            return
        self.model.defs.append(Definition(new, k))

    def known(self, op: int) -> pd.Timestamp:
        return pd.Timestamp(self.clock[op], unit="us", tz="UTC")


def rows_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model's records as ``frame_rows`` gives the engine's, in key order."""
    return by_id([{k: canon(v) for k, v in r.items()} for r in records])


def by_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["id"], r.get("part")))


def record(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """A record as ``get_record`` gives it: null features left out."""
    return None if values is None else {k: canon(v) for k, v in values.items() if v is not None}


@pytest.mark.parametrize("composite", [False, True], ids=["one-column key", "two-column key"])
@property_settings(25)
@given(ops=st.lists(operation, min_size=1, max_size=16), more=st.lists(operation, max_size=6),
       picks=st.lists(st.tuples(st.integers(0, 16), st.sampled_from([None, *range(len(SLOTS))])), min_size=1,
                      max_size=4))
def test_reads_follow_definition_versions(composite: bool, ops: list, more: list, picks: list) -> None:
    h = Harness(composite)
    try:
        for op in ops:
            h.apply(op)
        fs, model = h.fs, h.model
        for rid in RIDS:
            assert record(fs.get_record(GROUP, KEYS[composite][rid])) == record(model.get(rid)), rid
        for op_index, slot in picks:
            op_index = min(op_index, len(h.clock) - 1)
            ev = None if slot is None else SLOTS[slot]
            event_time = None if ev is None else pd.Timestamp(ev, unit="us", tz="UTC")
            current = frame_rows(fs.as_of(GROUP, event_time=event_time))
            assert by_id(current) == rows_of(model.as_of(ev, None)), ("as_of", slot)
            known = frame_rows(fs.as_of(GROUP, event_time=event_time, known_at=h.known(op_index)))
            assert by_id(known) == rows_of(model.as_of(ev, op_index)), ("known_at", op_index, slot)

        # A dataset known at an instant, recorded, then more changes: it rebuilds bit for bit.
        op_index = min(picks[0][0], len(h.clock) - 1)
        pairs = [(r, s) for r in RIDS for s in SLOTS[::2]]
        entity = pd.DataFrame([{**key_fields(composite, r), "event_time": iso(s)} for r, s in pairs])
        built = fs.build_dataset(entity, [GROUP], known_at=h.known(op_index))
        d = model.at(op_index)
        expected = []
        for rid, s in pairs:
            row = model.latest(rid, s, op_index)
            read = model.read(row, d) if row is not None and not row[4] else {}
            expected.append({**{k: canon(v) for k, v in key_fields(composite, rid).items()},
                             "event_time": canon(iso(s)), "ts": canon(read.get("ts")),
                             **{name: canon(read.get(name)) for _, name, _ in model.others(d)}})
        frame = built.to_pandas()
        got = frame_rows(frame)
        assert [{k: r[k] for k in e} for r, e in zip(got, expected)] == expected
        for op in more:
            h.apply(op)
        again = fs.dataset(built.id).to_pandas()
        pd.testing.assert_frame_equal(again, frame)
    finally:
        h.close()


def test_refusals_name_the_feature_and_what_works(tmp_path) -> None:
    fs = FeatureStore(str(tmp_path))
    fs.create_feature_group(GROUP, "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                 Feature("a", "Integral"), Feature("b", "Fractional"),
                                                 Feature("tags", "String", collection="List")])
    cases = [
        (dict(retype={"b": "Integral"}), "narrows"),
        (dict(rename={"a": "b"}), "already has a feature 'b'"),
        (dict(rename={"a": "B"}), "already has a feature 'b'"),
        (dict(drop=["id"]), "record identifier"),
        (dict(drop=["ts"]), "event time"),
        (dict(rename={"id": "key"}), "record identifier"),
        (dict(retype={"tags": "String"}), "only scalar features"),
        (dict(drop=["nope"]), "has no feature 'nope'"),
        (dict(rename={"a": "year"}), "reserved"),
        (dict(drop=["a", "b", "tags"]), "keep at least one"),
        (dict(), "No change"),
    ]
    for kwargs, words in cases:
        with pytest.raises(ValidationError, match=words):
            fs.change_features(GROUP, **kwargs)
    assert fs.feature_group(GROUP).version == 1  # nothing refused was recorded
    assert [v["version"] for v in fs.definition_history(GROUP)] == [1]
    fs.close()


def test_widening_converts_stored_values_online_and_offline_alike(tmp_path) -> None:
    fs = FeatureStore(str(tmp_path))
    fs.create_feature_group(GROUP, "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                 Feature("n", "Integral"), Feature("x", "Fractional")])
    values = [2.0, 0.1, 1e16, -2.5, 123.456, 5e-324, 1.5e300]
    fs.ingest(GROUP, pd.DataFrame({"id": range(len(values)), "ts": iso(BASE_US), "n": range(len(values)),
                                   "x": values}))
    fs.put_record(GROUP, {"id": 100, "ts": iso(BASE_US), "n": 7, "x": 2.0})  # staged, not yet in a file
    fs.change_features(GROUP, retype={"x": "String", "n": "Fractional"})
    online = {i: fs.get_record(GROUP, i) for i in range(len(values))}
    offline = fs.as_of(GROUP).set_index("id")
    for i, v in enumerate(values):
        assert online[i]["x"] == repr(v) == offline.loc[i, "x"]
        assert online[i]["n"] == float(i) == offline.loc[i, "n"] and isinstance(online[i]["n"], float)
    assert fs.get_record(GROUP, 100)["x"] == "2.0" and not math.isnan(fs.get_record(GROUP, 100)["n"])
    # A String feature now keeps text that looks like a number as it is.
    fs.put_record(GROUP, {"id": 1, "ts": iso(BASE_US + 1_000_000), "n": 1.5, "x": "007"})
    assert fs.get_record(GROUP, 1)["x"] == "007"
    fs.close()


def test_quality_settings_follow_a_change_or_refuse_it(tmp_path) -> None:
    fs = FeatureStore(str(tmp_path))
    fs.create_feature_group(GROUP, "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                 Feature("a", "Integral"), Feature("b", "Integral")])
    fs.set_rules(GROUP, [{"name": "pos", "check": "expression", "sql": "a >= 0"},
                         {"name": "rng", "check": "between", "feature": "b", "min": 0}])
    fs.set_monitor(GROUP, features=["a", "b"])
    for kwargs in (dict(rename={"a": "amt"}), dict(retype={"b": "String"}), dict(drop=["b"])):
        with pytest.raises(ValidationError, match="rule"):  # a rule would break: refused, the group still works
            fs.change_features(GROUP, **kwargs)
    assert fs.feature_group(GROUP).version == 1 and fs.get_record(GROUP, 1) is None
    fs.set_rules(GROUP, [{"name": "rng", "check": "between", "feature": "b", "min": 0}])
    fs.change_features(GROUP, rename={"a": "amt", "b": "bb"})
    assert [r["feature"] for r in fs.rules(GROUP)] == ["bb"]
    fs.set_rules(GROUP, [])
    fs.change_features(GROUP, drop=["amt"])
    assert fs.monitor(GROUP)["features"] == ["bb"]
    fs.check_monitors(GROUP)  # a monitor naming a feature gone would raise here
    fs.close()


def test_a_write_prepared_under_an_older_definition_is_refused_whole(tmp_path, monkeypatch) -> None:
    """A second handle changes the definition between a write's preparation and its transaction."""
    import store.ingest.prepare as prepare

    path = str(tmp_path / "s")
    fs = FeatureStore(path)
    fs.create_feature_group(GROUP, "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                 Feature("a", "Integral")])
    original = prepare.check

    def changed_meanwhile(*args, **kwargs):
        with FeatureStore(path) as other:
            other.change_features(GROUP, rename={"a": "amt"})
        return original(*args, **kwargs)

    monkeypatch.setattr(prepare, "check", changed_meanwhile)
    with pytest.raises(Exception, match="changed .now version 2. while this write was under way"):
        fs.ingest(GROUP, pd.DataFrame({"id": [1], "ts": [iso(BASE_US)], "a": [5]}))
    monkeypatch.undo()
    assert fs.as_of(GROUP).empty and fs.get_record(GROUP, 1) is None
    fs.ingest(GROUP, pd.DataFrame({"id": [1], "ts": [iso(BASE_US)], "amt": [5]}))
    assert fs.get_record(GROUP, 1)["amt"] == 5
    fs.close()
