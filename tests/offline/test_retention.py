"""Offline retention against the answers without it: for random writes, deletes and a retention
cutoff, every as_of (both clocks) and every dataset inside the retained window is unchanged, and
a question before the window is refused. Event times are set around the real write times, so the
cutoff splits both clocks."""
from __future__ import annotations

import os
import shutil
import tempfile
import time

import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from store import Feature, FeatureStore, ValidationError
from store.offline.compaction import Rewriter, compact_group
from store.common.timeutil import now_us, us_to_iso

pytestmark = pytest.mark.storage  # every test on `fs` runs on a local folder and on S3

DAY_US = 86_400_000_000
ops = st.lists(st.tuples(st.sampled_from(["put", "put", "put", "soft", "hard", "ingest"]), st.integers(0, 4),
                         st.integers(0, 9), st.integers(-5, 5)), min_size=3, max_size=16)


def frame(df: pd.DataFrame) -> list[tuple]:
    return [tuple(None if pd.isna(v) else v for v in row) for row in df.itertuples(index=False, name=None)]


@settings(max_examples=40 * int(os.environ.get("PROPERTY_SCALE", "1")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(history=ops, cut=st.integers(0, 19), layout=st.sampled_from(["day", "hour", "none"]),
       picks=st.lists(st.tuples(st.integers(0, 10), st.integers(0, 16)), min_size=4, max_size=8))
def test_retention_changes_no_answer_inside_the_window(history, cut, layout, picks):
    folder = tempfile.mkdtemp(prefix="fs-retention-")
    try:
        with FeatureStore(folder) as fs:
            fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                                      Feature("v", "Integral")], partition_by=layout)
            base = now_us() + 10_000
            slots = [base + i * 12_000 for i in range(10)]  # event times interleaved with the writes below
            instants = []
            for kind, rid, slot, value in history:
                ts = us_to_iso(slots[slot])
                if kind == "put":
                    fs.put_record("g", {"id": rid, "ts": ts, "v": value})
                elif kind == "ingest":
                    fs.ingest("g", pd.DataFrame({"id": [rid, (rid + 1) % 5], "ts": [ts, us_to_iso(slots[9 - slot])],
                                                 "v": [value, -value]}))
                else:
                    try:
                        fs.delete_record("g", rid, ts, hard=kind == "hard")
                    except ValidationError:  # a hard delete older than the record: refused, as specified
                        pass
                instants.append(now_us())
                time.sleep(0.004)
            fs.flush()
            points = sorted(slots + instants)[len(slots) // 2:]  # late cutoffs: they have history to drop
            c = points[cut % len(points)]
            times = [t for t in [None, *slots] if t is None or t >= c]
            knowns = [k for k in [None, *instants] if k is None or k >= c]
            pairs = sorted({(times[i % len(times)], knowns[j % len(knowns)]) for i, j in picks}, key=str)
            entity = pd.DataFrame({"id": [r for r in range(6) for _ in slots if _ >= c],
                                   "at": [us_to_iso(t) for _ in range(6) for t in slots if t >= c]})

            def answers() -> list:
                out = [frame(fs.as_of("g", event_time=None if t is None else us_to_iso(t),
                                      known_at=None if k is None else us_to_iso(k))) for t, k in pairs]
                if len(entity):
                    out += [frame(fs.build_dataset(entity, ["g:v"], "at", known_at=None if k is None else us_to_iso(k),
                                                   record=False).to_pandas()) for k in {k for _, k in pairs}]
                return out

            before = answers()
            rows_before = fs.describe("g")["offline_rows"]
            fs.update_feature_group("g", offline_retention=1)  # one day: "now" is the cutoff plus a day
            compact_group(Rewriter(fs._ctx.db, fs._ctx.files), fs._ctx.db, fs.feature_group("g"), c + DAY_US)
            assert answers() == before, f"retention at cutoff {c} changed an answer after {history}"
            dropped = rows_before - fs.describe("g")["offline_rows"]
            assert dropped >= 0
            event("retention dropped rows" if dropped else "retention dropped nothing")
            early = [t for t in slots if t < c]
            if early and fs.describe("g")["retained_from_us"] == c:
                with pytest.raises(ValidationError, match="before the history 'g' keeps"):
                    fs.as_of("g", event_time=us_to_iso(early[0]))
                with pytest.raises(ValidationError, match="entity rows have event times before"):
                    fs.build_dataset(pd.DataFrame({"id": [0], "at": [us_to_iso(early[0])]}), ["g:v"], "at")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_retention_drops_old_history_but_keeps_each_records_state(fs):
    fs.create_feature_group("g", "id", "ts", [Feature("id", "Integral"), Feature("ts", "String"),
                                              Feature("v", "Integral")], offline_retention=pd.Timedelta(days=30))
    old = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=100)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    fs.ingest("g", pd.DataFrame({"id": [1, 1, 1, 2, 2], "v": [1, 2, 3, 10, 20], "ts": [
        (old + pd.Timedelta(days=d)).strftime(fmt) for d in (0, 1, 2, 0, 80)]}))
    fs.delete_record("g", 1, (old + pd.Timedelta(days=3)).strftime(fmt))
    assert fs.describe("g")["offline_rows"] == 6
    # Everything above was written just now: its write time is inside the window, so nothing may go yet.
    assert fs.compact("g")["rows_dropped"] == 0
    assert fs.describe("g")["offline_rows"] == 6
