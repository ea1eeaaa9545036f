"""Property-based tests: random histories run against the engine and the brute-force model in
``tests/reference.py``; every read (get_record, batch_get_records, history, as_of with event_time
and known_at, build_dataset with known_at) must agree with the model, compaction must change no
answer, and an ingested batch must equal the same rows put one by one.

Histories use identifiers 0-4 and five event times (so ties are common); the reads' properties
also run on a group keyed by two columns (id, part), whose keys share a column with others: puts with random null and
omitted features, soft and hard deletes, ingest batches of 1-5 rows (some properties add flushes
and close/reopen). Values are sent typed, as text (the wire model) or with a pandas Timestamp as
event time; batches come as a DataFrame, an Arrow table, text, or with a datetime64 event-time
column. Half the examples use a String (ISO-8601 'Z') event time, half a Fractional (epoch
seconds) one. Write times are checked against instants taken between the calls (2 ms apart), and
``known_at`` is given such an instant, a write time read back from ``history``, or one microsecond
before it. ``PROPERTY_SCALE=10`` runs ten times as many examples.

The batch-versus-puts property also sends values both paths must refuse (``Raw``: Unicode digits,
an identifier '١', event times outside 1677..2262, a String List mixing kinds) and a String List
feature: a refused row is refused by the put and skipped by the ingest, and nothing else differs.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from store import Feature, FeatureStore, ValidationError
from store.errors import FeatureStoreError

try:
    from tests.reference import HardDeleteRejected, Reference
except ImportError:  # tests/ itself on sys.path
    from reference import HardDeleteRejected, Reference

GROUP = "grp"
ID = "id"
FEATURES = ("f_int", "f_float", "f_str")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
BASE_US = 1_704_067_200 * 10**6  # 2024-01-01T00:00:00Z
# Five event times: two in the same hour, one with a fraction of a second, another hour, another day.
SLOTS = [BASE_US + s for s in (0, 1_800_000_000, 3_600_500_000, 7_200_000_000, 90_000_000_000)]
# Twelve more hours, for ingest batches spread over many partitions (the store writes those in parallel).
ALL_SLOTS = SLOTS + [BASE_US + h * 3_600_000_000 for h in range(10, 22)]
# Times to query at: before everything, each event time exactly, and a quarter second after each.
QUERY_TIMES = sorted({BASE_US - 1_000_000, *SLOTS, *(s + 250_000 for s in SLOTS)})
RIDS = range(6)  # 5 is never written
# A group keyed by two columns (id, part) maps the same six ids onto keys sharing a column with others.
PART = "part"
KEYS = [(0, "a"), (0, "b"), (1, "a"), (1, "b"), (2, "a"), (2, "b")]

# PROPERTY_SCALE=10 searches ten times longer (the default keeps the file under ~90 s on 2 cores).
SCALE = max(1, int(os.environ.get("PROPERTY_SCALE", "1")))


def property_settings(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Put:
    rid: int
    slot: int
    values: dict  # features to send; a missing key is omitted from the record, None is an explicit null
    form: str = "typed"  # "typed"; "text": every value as a string (the wire model); "timestamp": event time as pd.Timestamp
    spell: int = 0  # digits of the fraction in an ISO event time (0: as few as needed)

    def __repr__(self) -> str:
        return f"Put(rid={self.rid}, slot={self.slot}, values={self.values!r}, form={self.form!r}, spell={self.spell})"


@dataclass(frozen=True)
class Delete:
    rid: int
    slot: int
    hard: bool
    form: str = "typed"  # as for Put: "typed", "text" or "timestamp"
    spell: int = 0

    def __repr__(self) -> str:
        return f"Delete(rid={self.rid}, slot={self.slot}, hard={self.hard}, form={self.form!r}, spell={self.spell})"


@dataclass(frozen=True)
class Ingest:
    rows: tuple  # of (rid, slot, values)
    source: str = "pandas"  # "pandas"; "arrow": an Arrow table; "text": a DataFrame of strings; "timestamps": event times as datetime64
    spell: int = 0

    def __repr__(self) -> str:
        return f"Ingest(rows={self.rows!r}, source={self.source!r}, spell={self.spell})"


@dataclass(frozen=True)
class Flush:
    def __repr__(self) -> str:
        return "Flush()"


@dataclass(frozen=True)
class Reopen:
    """Close the store and open its folder again."""

    def __repr__(self) -> str:
        return "Reopen()"


@dataclass(frozen=True)
class Raw:
    """A value every path must refuse, sent as it is (text, or a list for a List feature)."""

    value: Any

    def __repr__(self) -> str:
        return f"Raw({self.value!r})"


ET = "<event time>"  # a key of a row's values standing for the group's event-time feature
# Instants outside 1677-09-21..2262-04-11 (ISO; sent as epoch seconds or timestamps where the form asks).
FAR_TIMES = ["0001-01-01T00:00:00Z", "1500-06-01T00:00:00Z", "2300-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
refused_values = st.one_of(
    st.sampled_from(["١٢٣", "１２３", "12\n3"]).map(lambda v: {"f_int": Raw(v)}),
    st.sampled_from(["١.٥", "٣"]).map(lambda v: {"f_float": Raw(v)}),
    st.just({ID: Raw("١")}),
    st.sampled_from(FAR_TIMES).map(lambda v: {ET: Raw(v)}),
    st.sampled_from([["a", 1], ["b", True], [["a"]]]).map(lambda v: {"f_list": Raw(v)}),
)
feature_values = st.fixed_dictionaries({}, optional={
    "f_int": st.none() | st.integers(-3, 3) | st.just(2**40),
    "f_float": st.none() | st.sampled_from([0.0, -1.5, 2.25, 0.1, 1e10]),
    "f_str": st.none() | st.sampled_from(["", "a", "b", "héllo"]),
})
listed_values = st.fixed_dictionaries({}, optional={
    "f_int": st.none() | st.integers(-3, 3) | st.just(2**40),
    "f_float": st.none() | st.sampled_from([0.0, -1.5, 2.25, 0.1, 1e10]),
    "f_str": st.none() | st.sampled_from(["", "a", "b", "héllo"]),
    "f_list": st.none() | st.lists(st.sampled_from(["a", "b", 'q"uote', "é"]), max_size=3),
})
rids = st.integers(0, 4)
slots = st.integers(0, len(SLOTS) - 1)
spellings = st.sampled_from([0, 3, 6, 9])  # one instant written '...:00.5Z', '...:00.500Z', ... '...:00.500000000Z'
puts = st.builds(Put, rids, slots, feature_values, st.sampled_from(["typed", "text", "timestamp"]), spellings)
deletes = st.builds(Delete, rids, slots, st.booleans(), st.sampled_from(["typed", "text", "timestamp"]), spellings)
batch_rows = st.lists(st.tuples(rids, slots, feature_values), min_size=1, max_size=5).map(tuple)
wide_batch_rows = st.lists(st.tuples(rids, st.integers(0, len(ALL_SLOTS) - 1), feature_values),
                           min_size=9, max_size=14).map(tuple)
ingests = st.builds(Ingest, batch_rows, st.sampled_from(["pandas", "arrow", "text", "timestamps"]), spellings)
# Rows of a batch held against puts: with a List feature, and one in four refused by both paths.
verdict_rows = st.lists(st.tuples(rids, slots, listed_values | listed_values | listed_values | refused_values),
                        min_size=1, max_size=6).map(tuple)
operation = st.one_of(puts, deletes, ingests, puts)
operations = st.lists(operation, min_size=1, max_size=12)
maintenance = st.sampled_from([Flush(), Reopen()])
operations_with_maintenance = st.lists(st.one_of(puts, deletes, ingests, puts, deletes, ingests, maintenance),
                                       min_size=1, max_size=10)
time_kinds = st.sampled_from(["iso", "epoch"])
event_time_names = st.sampled_from(["ts", "event_time"])  # "ts" clashes with the entity column below

# A known_at choice: None, or (how, k, form): "instant" = an instant taken right after call k
# (k = -1: before the first call), "exact" = the write time of call k read from history,
# "before" = one microsecond before it. k is clamped to the calls made.
known_choices = st.none() | st.tuples(st.sampled_from(["instant", "exact", "before"]), st.integers(-1, 11),
                                      st.sampled_from(["datetime", "timestamp", "iso", "epoch"]))
# An as_of query: (index into QUERY_TIMES or None, form of the event_time argument, known_at choice)
queries = st.lists(st.tuples(st.none() | st.integers(0, len(QUERY_TIMES) - 1),
                             st.sampled_from(["native", "datetime", "timestamp", "iso", "epoch"]), known_choices),
                   min_size=1, max_size=3)


# ----------------------------------------------------------------------------- helpers


def iso(us: int) -> str:
    text = (EPOCH + dt.timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S")
    if us % 1_000_000:
        text += f".{us % 1_000_000:06d}".rstrip("0")
    return text + "Z"


def iso_spelled(us: int, digits: int) -> str:
    """``iso(us)`` with the fraction written with ``digits`` digits (0: as few as needed)."""
    if not digits:
        return iso(us)
    fraction = f"{us % 1_000_000:06d}000"[:digits]
    assert int(fraction.ljust(9, "0")) == us % 1_000_000 * 1000, "too few digits for this instant"
    return (EPOCH + dt.timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S") + "." + fraction + "Z"


def iso6(us: int) -> str:
    """How the store writes an instant it got as a timestamp into a String event time."""
    text = (EPOCH + dt.timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{us % 1_000_000:06d}Z" if us % 1_000_000 else "Z")


def ev_value(kind: str, us: int) -> Any:
    """An event time in the group's declared form."""
    return iso(us) if kind == "iso" else us / 1_000_000


def as_text(value: Any) -> Any:
    """A value as the wire model sends it: a string (nulls stay null; a list as JSON, as a file holds it)."""
    if isinstance(value, Raw):
        return value.value if isinstance(value.value, str) else json.dumps(value.value)
    if isinstance(value, list):
        return json.dumps(value)
    return None if value is None else value if isinstance(value, str) else repr(value)


def refused(values: dict) -> bool:
    return any(isinstance(v, Raw) for v in values.values())


def time_arg(us: int, form: str, kind: str) -> Any:
    """An instant as an argument (event_time= / known_at=) in one of the accepted forms."""
    if form == "native":
        return ev_value(kind, us)
    if form == "iso":
        return iso(us)
    if form == "epoch":
        return us / 1_000_000
    if form == "datetime":
        return EPOCH + dt.timedelta(microseconds=us)
    return pd.Timestamp(us, unit="us", tz="UTC")


def canon(v: Any) -> Any:
    """A value with its kind, so 1 != 1.0 != '1'; every null is None."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return ("bool", bool(v))
    if isinstance(v, (int, np.integer)):
        return ("int", int(v))
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else ("float", float(v))
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, (list, tuple, np.ndarray)):
        return ("list", tuple(canon(x) for x in v))
    if isinstance(v, pd.Timestamp):
        return ("time", v.value // 1000)
    if isinstance(v, dt.datetime):
        return ("time", (v - EPOCH) // dt.timedelta(microseconds=1))
    raise TypeError(f"unexpected value {v!r} of type {type(v).__name__}")


def canon_record(record: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if record is None else {k: canon(v) for k, v in record.items()}


def frame_rows(df: pd.DataFrame, columns: list[str] | None = None) -> list[dict[str, Any]]:
    if columns is not None:
        assert list(df.columns) == columns, f"columns {list(df.columns)}, expected {columns}"
    return [{c: canon(v) for c, v in zip(df.columns, row)} for row in df.itertuples(index=False, name=None)]


def ts_us(value: Any) -> int:
    return pd.Timestamp(value).value // 1000


def group_features(kind: str, et_name: str, with_list: bool = False, composite: bool = False) -> list[Feature]:
    return [Feature(ID, "Integral"), *([Feature(PART, "String")] if composite else []),
            Feature(et_name, "String" if kind == "iso" else "Fractional"),
            Feature("f_int", "Integral"), Feature("f_float", "Fractional"), Feature("f_str", "String"),
            *([Feature("f_list", "String", "List")] if with_list else [])]


class Harness:
    """A fresh store in a temporary folder, the model, and the instants between the calls."""

    def __init__(self, kind: str, et_name: str, online: str | None = None, registry: str | None = None,
                 with_list: bool = False, composite: bool = False) -> None:
        self.kind, self.et, self.composite = kind, et_name, composite
        key_names = [ID, PART] if composite else [ID]
        self.names = [*key_names, et_name, *FEATURES, *(["f_list"] if with_list else [])]
        self.dir = tempfile.mkdtemp(prefix="fs-property-")
        try:
            self.fs = FeatureStore(self.dir, online=online, registry=registry)
            self.fs.create_feature_group(GROUP, key_names if composite else ID, et_name,
                                         group_features(kind, et_name, with_list, composite))
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self.model = Reference(self.names, tuple(key_names) if composite else ID, et_name)
        self.log: list[Any] = []
        self.instants = [self._instant()]  # instants[k] is taken before call k, instants[k + 1] after it

    def __enter__(self) -> "Harness":
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.fs.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _instant() -> int:
        us = time.time_ns() // 1000
        time.sleep(0.002)  # the next call's write time is strictly later
        return us

    @property
    def calls(self) -> int:
        return len(self.instants) - 1

    def key(self, rid: int) -> Any:
        """The record key of id ``rid``: itself, or its (id, part) tuple in a composite-key group."""
        return KEYS[rid] if self.composite else rid

    def key_arg(self, rid: int, form: str) -> Any:
        """The key as a caller gives it: typed, as text, or (composite) as a list or a dict by column."""
        if not self.composite:
            return str(rid) if form == "text" else rid
        number, part = KEYS[rid]
        return {"text": [str(number), part], "timestamp": {PART: part, ID: number}}.get(form, (number, part))

    def record(self, rid: int, slot: int, values: dict, spell: int = 0) -> dict[str, Any]:
        """The record as stored (typed, event time in the declared form); a refused one as sent."""
        key = dict(zip((ID, PART), KEYS[rid])) if self.composite else {ID: rid}
        rec = {**key, self.et: self.stored_event_time(slot, "typed", spell), **values}
        far = rec.pop(ET, None)
        if far is not None:  # an instant out of range, in the event time's declared form
            rec[self.et] = far if self.kind == "iso" else Raw(repr((pd.Timestamp(far.value) - pd.Timestamp(EPOCH))
                                                                   .total_seconds()))
        return rec

    def far_timestamp(self, value: Any) -> Any:
        """A refused event time as a timestamp (the "timestamp" forms), if it is one."""
        text = value.value
        return pd.Timestamp(text) if self.kind == "iso" else pd.Timestamp(float(text) * 10**6, unit="us", tz="UTC")

    def stored_event_time(self, slot: int, form: str, spell: int = 0) -> Any:
        if self.kind == "epoch":
            return ev_value(self.kind, ALL_SLOTS[slot])
        if form in ("timestamp", "timestamps"):
            return iso6(ALL_SLOTS[slot])
        return iso_spelled(ALL_SLOTS[slot], spell)

    def frame(self, records: list[dict[str, Any]], source: str) -> Any:
        cols = [c for c in self.names if any(c in r for r in records)]  # a column nobody sends is left out
        data = {c: [r.get(c) for r in records] for c in cols}
        if source == "arrow":
            import pyarrow as pa

            return pa.table({c: pa.array([as_text(x) for x in v] if any(isinstance(x, Raw) for x in v) else v)
                             for c, v in data.items()})
        if source == "text":
            return pd.DataFrame({c: pd.Series([as_text(x) for x in v], dtype=object) for c, v in data.items()})
        if source == "timestamps":
            data[self.et] = pd.Series([self.far_timestamp(u) if isinstance(u, Raw) else pd.Timestamp(u, unit="us", tz="UTC")
                                       for u in data[self.et]], dtype="datetime64[us, UTC]")
        return pd.DataFrame({c: pd.Series([x.value if isinstance(x, Raw) else x for x in v], dtype=object)
                             if any(isinstance(x, Raw) for x in v) else v for c, v in data.items()})

    def apply(self, op: Any) -> None:
        k = self.calls
        if isinstance(op, Put):
            rec = self.record(op.rid, op.slot, op.values, op.spell)
            sent = dict(rec)
            if op.form == "text":
                sent = {key: as_text(v) for key, v in rec.items()}
            elif op.form == "timestamp":
                far = rec[self.et]
                sent[self.et] = self.far_timestamp(far) if isinstance(far, Raw) else pd.Timestamp(
                    ALL_SLOTS[op.slot], unit="us", tz="UTC")
            sent = {key: v.value if isinstance(v, Raw) else v for key, v in sent.items()}
            if refused(rec):
                with pytest.raises(ValidationError):
                    self.fs.put_record(GROUP, sent)
                    pytest.fail(f"{op!r} must be refused: {sent!r} was accepted")
                self.log.append(op)
                self.instants.append(self._instant())
                return
            before = self.model.online.get(self.key(op.rid))
            if before is not None:
                event(f"put {'older than' if ALL_SLOTS[op.slot] < before.ev else 'at' if ALL_SLOTS[op.slot] == before.ev else 'newer than'} "
                      f"a {'tombstone' if before.deleted else 'record'}")
            self.fs.put_record(GROUP, sent)
            self.model.put({**rec, self.et: self.stored_event_time(op.slot, op.form, op.spell)}, ALL_SLOTS[op.slot], k)
        elif isinstance(op, Delete):
            ev = ALL_SLOTS[op.slot]
            value = self.stored_event_time(op.slot, op.form, op.spell)
            rid_arg = self.key_arg(op.rid, op.form)
            ev_arg: Any = {"text": as_text(value), "timestamp": pd.Timestamp(ev, unit="us", tz="UTC")}.get(op.form, value)
            before = self.model.online.get(self.key(op.rid))
            if before is not None:
                event(f"{'hard' if op.hard else 'soft'} delete "
                      f"{'older than' if ev < before.ev else 'at' if ev == before.ev else 'newer than'} "
                      f"a {'tombstone' if before.deleted else 'record'}")
            try:
                self.model.delete(self.key(op.rid), ev, value, op.hard, k)
            except HardDeleteRejected as why:
                with pytest.raises(ValidationError):
                    self.fs.delete_record(GROUP, rid_arg, ev_arg, hard=True)
                    pytest.fail(f"{op!r} after {self.log} must raise ValidationError ({why})")
            else:
                try:
                    self.fs.delete_record(GROUP, rid_arg, ev_arg, hard=op.hard)
                except ValidationError as exc:
                    pytest.fail(f"{op!r} after {self.log} raised {exc!r}, but the semantics accept it "
                                f"(online row before: {before})")
        elif isinstance(op, Ingest):
            records = [self.record(*row, op.spell) for row in op.rows]
            sent = records
            if op.source == "timestamps":
                sent = [{**r, self.et: r[self.et] if isinstance(r[self.et], Raw) else ALL_SLOTS[row[1]]}
                        for r, row in zip(records, op.rows)]
            bad = sum(refused(r) for r in records)
            if bad:
                event(f"an ingest with refused rows ({op.source})")
            try:
                report = self.fs.ingest(GROUP, self.frame(sent, op.source), on_error="skip" if bad else "reject")
            except FeatureStoreError as exc:  # a frame Arrow cannot hold at all is refused whole
                assert bad, f"{op!r} raised {exc!r}"
                good = []
            else:
                assert report.rows_rejected == bad, f"{op!r}: {report.summary()}"
                good = [(r, row) for r, row in zip(records, op.rows) if not refused(r)]
            stored = [({**r, self.et: self.stored_event_time(row[1], op.source, op.spell)}, ALL_SLOTS[row[1]])
                      for r, row in good]
            self.model.ingest(stored, k)
        elif isinstance(op, Flush):
            self.fs.flush(GROUP)
        elif isinstance(op, Reopen):
            self.fs.close()
            self.fs = FeatureStore(self.dir)
        else:
            raise AssertionError(op)
        self.log.append(op)
        self.instants.append(self._instant())

    def touched(self, op: Any) -> set[int]:
        if isinstance(op, Ingest):
            return {r[0] for r in op.rows}
        return {op.rid} if isinstance(op, (Put, Delete)) else set()

    # ------------------------------------------------------------------ checks

    def check_online(self, ids: Any = RIDS) -> None:
        ids = list(ids)
        for rid in ids:
            got, want = self.fs.get_record(GROUP, self.key(rid)), self.model.get(self.key(rid))
            assert canon_record(got) == canon_record(want), f"get_record({self.key(rid)}) after {self.log}"
        asked = [self.key(rid) for rid in ids[::-1]]  # in an order of its own
        got_batch = [canon_record(r) for r in self.fs.batch_get_records(GROUP, asked)]
        want_batch = [canon_record(self.model.get(rid)) for rid in dict.fromkeys(asked) if self.model.get(rid) is not None]
        assert got_batch == want_batch, f"batch_get_records({asked}) after {self.log}"
        if hasattr(self.fs, "list_record_ids"):  # online rows: live ones, and with tombstones (a hard delete removes both)
            live = sorted(rid for rid, row in self.model.online.items() if not row.deleted)
            assert self.fs.list_record_ids(GROUP) == live, f"list_record_ids after {self.log}"
            assert self.fs.list_record_ids(GROUP, include_deleted=True) == sorted(self.model.online), \
                f"list_record_ids(include_deleted=True) after {self.log}"

    def histories(self) -> dict[int, pd.DataFrame]:
        """``history`` of every written id and of one never written."""
        return {rid: self.fs.history(GROUP, rid) for rid in sorted({*self.model.ids(), self.key(RIDS[-1])})}

    def check_history(self, histories: dict[int, pd.DataFrame] | None = None) -> dict[int, int]:
        """History of every id against the model; returns the write time of each call that wrote."""
        histories = self.histories() if histories is None else histories
        write_times: dict[int, int] = {}
        for rid, df in histories.items():
            want = self.model.history(rid)
            assert list(df.columns) == [*self.names, "write_time", "api_invocation_time", "is_deleted"]
            got_rows = [({f: canon(r[f]) for f in self.names}, canon(r["is_deleted"])) for _, r in df.iterrows()]
            want_rows = [({f: canon(v) for f, v in ver.values}, ("bool", ver.deleted)) for ver in want]
            assert got_rows == want_rows, f"history({rid}) after {self.log}"
            for ver, (_, r) in zip(want, df.iterrows()):
                wt, api = ts_us(r["write_time"]), ts_us(r["api_invocation_time"])
                assert self.instants[ver.op] < wt <= self.instants[ver.op + 1], \
                    f"write_time of call {ver.op} ({self.log[ver.op]!r}) is outside the call"
                assert self.instants[ver.op] < api <= wt, f"api_invocation_time of call {ver.op} is off"
                assert write_times.setdefault(ver.op, wt) == wt, f"call {ver.op} wrote with two write times"
        ordered = [write_times[k] for k in sorted(write_times)]
        assert ordered == sorted(set(ordered)), "write times do not increase with the order of the calls"
        return write_times

    def known_at(self, choice: Any, write_times: dict[int, int]) -> tuple[Any, int | None, str]:
        """(known_at argument, the model's max call index, description)."""
        if choice is None:
            return None, None, "None"
        how, k, form = choice
        k = min(k, self.calls - 1)
        if how != "instant" and k in write_times:
            us = write_times[k] if how == "exact" else write_times[k] - 1
            max_op = k if how == "exact" else k - 1
        else:
            how, us, max_op = "instant", self.instants[k + 1], k
        return time_arg(us, form, self.kind), max_op, f"{how} of call {k} ({us})"

    def as_of_answers(self, resolved: list[tuple]) -> list[list[dict[str, Any]]]:
        return [frame_rows(self.fs.as_of(GROUP, event_time=ev_arg, known_at=known_arg), self.names)
                for ev_arg, known_arg, *_ in resolved]

    def resolve(self, qs: list[tuple], write_times: dict[int, int]) -> list[tuple]:
        """Queries as (event_time arg, known_at arg, model max_ev, model max_op, description)."""
        out = [(None, None, None, None, "latest")]
        for t_idx, t_form, known in qs:
            max_ev = None if t_idx is None else QUERY_TIMES[t_idx]
            ev_arg = None if max_ev is None else time_arg(max_ev, t_form, self.kind)
            known_arg, max_op, what = self.known_at(known, write_times)
            out.append((ev_arg, known_arg, max_ev, max_op, f"event_time={ev_arg!r}, known_at={what}"))
        return out

    def check_as_of(self, resolved: list[tuple], answers: list | None = None) -> None:
        answers = self.as_of_answers(resolved) if answers is None else answers
        for (_, _, max_ev, max_op, what), got in zip(resolved, answers):
            want = [{f: canon(v) for f, v in rec.items()} for rec in self.model.as_of(max_ev, max_op)]
            assert got == want, f"as_of({what}) after {self.log}"


# ----------------------------------------------------------------------------- properties


@pytest.mark.online  # on every online backend, and with the store's tables in PostgreSQL
@property_settings(60)
@given(kind=time_kinds, et_name=event_time_names, ops=operations, composite=st.booleans())
@example(kind="iso", et_name="ts", ops=[Put(0, 0, {}), Delete(0, 2, False), Delete(0, 1, True)], composite=False)
@example(kind="iso", et_name="ts", ops=[Put(0, 0, {}), Put(1, 1, {}), Delete(2, 2, False), Delete(0, 1, True)],
         composite=True)
def test_online_store_matches_reference(online_location: str | None, registry_location: str | None, kind: str,
                                        et_name: str, ops: list, composite: bool) -> None:
    with Harness(kind, et_name, online_location, registry_location, composite=composite) as h:
        for op in ops:
            h.apply(op)
            h.check_online(sorted(h.touched(op)))
        h.check_online()


@property_settings(60)
@given(kind=time_kinds, et_name=event_time_names, ops=operations, qs=queries, composite=st.booleans())
def test_history_and_as_of_match_reference(kind: str, et_name: str, ops: list, qs: list, composite: bool) -> None:
    with Harness(kind, et_name, composite=composite) as h:
        for op in ops:
            h.apply(op)
        write_times = h.check_history()
        h.check_as_of(h.resolve(qs, write_times))


entity_rows = st.lists(st.tuples(st.integers(0, 5), st.integers(-1, len(QUERY_TIMES) - 1), st.integers(0, 9)),
                       min_size=1, max_size=8)  # (id, index into QUERY_TIMES or -1 for a null ts, label)


@property_settings(60)
@given(kind=time_kinds, et_name=event_time_names, ops=operations_with_maintenance, rows=entity_rows,
       ts_form=st.sampled_from(["native", "timestamp"]), label=st.sampled_from(["label", "f_int"]),
       known=known_choices, composite=st.booleans())
def test_build_dataset_matches_reference(kind: str, et_name: str, ops: list, rows: list, ts_form: str,
                                         label: str, known: Any, composite: bool) -> None:
    with Harness(kind, et_name, composite=composite) as h:
        for op in ops:
            h.apply(op)
        write_times = h.check_history() if known is not None else {}
        known_arg, max_op, what = h.known_at(known, write_times)
        ts_values = [None if i < 0 else QUERY_TIMES[i] for _, i, _ in rows]
        if ts_form == "native":
            # A float column for epoch seconds; strings for ISO (a column of only nulls gets the string
            # dtype: as plain objects it would have no type at all, and the store rightly asks for times).
            ts_col: Any = pd.Series([None if u is None else ev_value(kind, u) for u in ts_values],
                                    dtype="float64" if kind == "epoch" else object)
            if kind == "iso" and all(u is None for u in ts_values):
                ts_col = ts_col.astype("string")
        else:
            ts_col = pd.Series([pd.NaT if u is None else pd.Timestamp(u, unit="us", tz="UTC") for u in ts_values],
                               dtype="datetime64[us, UTC]")
        keys = {"id": [r[0] for r in rows]}
        if composite:  # the entity's key columns, named like the group's
            keys = {"id": [KEYS[r[0]][0] for r in rows], PART: [KEYS[r[0]][1] for r in rows]}
        entity = pd.DataFrame({**keys, "ts": ts_col, label: [r[2] for r in rows]})
        entity_cols = list(entity.columns)
        out_names = [f"{GROUP}__{f}" if f in entity_cols else f for f in [et_name, *FEATURES]]

        ds = h.fs.build_dataset(entity, [GROUP], event_time_column="ts", known_at=known_arg)
        got = frame_rows(ds.to_pandas(), entity_cols + out_names)
        expected_entity = frame_rows(entity)
        for i, ((rid, _, _), ts, g, e) in enumerate(zip(rows, ts_values, got, expected_entity)):
            assert {c: g[c] for c in entity_cols} == e, f"entity columns of row {i} changed"
            rec = h.model.point_in_time(h.key(rid), ts, max_op) or {}
            want = {n: canon(rec.get(f)) for n, f in zip(out_names, [et_name, *FEATURES])}
            assert {n: g[n] for n in out_names} == want, \
                f"build_dataset row {i} (id={rid}, ts={ts}, known_at={what}) after {h.log}"
        assert len(got) == len(rows)


@property_settings(30)
@given(kind=time_kinds, et_name=event_time_names, first=operations_with_maintenance, then=operations_with_maintenance,
       qs=queries, composite=st.booleans())
def test_compact_changes_no_answer(kind: str, et_name: str, first: list, then: list, qs: list, composite: bool) -> None:
    with Harness(kind, et_name, composite=composite) as h:
        for part in (first, then):
            for op in part:
                h.apply(op)
            histories = h.histories()
            write_times = h.check_history(histories)
            resolved = h.resolve(qs, write_times)
            before_as_of = h.as_of_answers(resolved)
            before_history = {rid: frame_rows(df) for rid, df in histories.items()}
            stats = h.fs.compact(GROUP)
            assert stats["rows"] == len(h.model.versions), f"compact counted {stats} after {h.log}"
            assert stats["files_after"] <= stats["files_before"]
            after_as_of = h.as_of_answers(resolved)
            assert after_as_of == before_as_of, f"compact changed an as_of answer after {h.log}"
            after_history = h.histories()
            assert {rid: frame_rows(df) for rid, df in after_history.items()} == before_history, \
                f"compact changed a history after {h.log}"
            h.check_history(after_history)
            h.check_as_of(resolved, after_as_of)


PUT_FORM = {"pandas": "typed", "arrow": "typed", "text": "text", "timestamps": "timestamp"}


@pytest.mark.online
@property_settings(30)
@given(kind=time_kinds, et_name=event_time_names, prefix=st.lists(operation, max_size=6),
       rows=batch_rows | wide_batch_rows | verdict_rows,
       source=st.sampled_from(sorted(PUT_FORM)), spell=spellings,
       times=st.lists(st.integers(0, len(QUERY_TIMES) - 1), max_size=3, unique=True))
def test_ingest_batch_equals_puts_one_by_one(online_location: str | None, registry_location: str | None, kind: str,
                                             et_name: str, prefix: list, rows: tuple, source: str, spell: int,
                                             times: list) -> None:
    with Harness(kind, et_name, online_location, registry_location, with_list=True) as batch, \
            Harness(kind, et_name, online_location, registry_location, with_list=True) as single:
        for op in prefix:
            batch.apply(op)
            single.apply(op)
        batch.apply(Ingest(rows, source, spell))
        for rid, slot, values in rows:
            single.apply(Put(rid, slot, values, PUT_FORM[source], spell))
        context = f"ingest of {rows} ({source}, spell={spell}) differs from the same puts, after {prefix}"
        for rid in RIDS:
            assert canon_record(batch.fs.get_record(GROUP, rid)) == canon_record(single.fs.get_record(GROUP, rid)), \
                f"get_record({rid}): {context}"
        for t in [None, *(QUERY_TIMES[i] for i in times)]:
            ev = None if t is None else ev_value(kind, t)
            assert frame_rows(batch.fs.as_of(GROUP, event_time=ev)) == frame_rows(single.fs.as_of(GROUP, event_time=ev)), \
                f"as_of(event_time={ev!r}): {context}"
        batch_histories, single_histories = batch.histories(), single.histories()
        cols = [*batch.names, "is_deleted"]
        for rid in batch_histories:
            assert frame_rows(batch_histories[rid][cols]) == frame_rows(single_histories[rid][cols]), \
                f"history({rid}): {context}"
        batch.check_online()
        single.check_online()
        batch.check_history(batch_histories)
        batch.check_as_of(batch.resolve([], {}))
