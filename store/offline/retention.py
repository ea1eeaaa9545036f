"""Offline retention: which history a group may drop and still answer every question inside its
window exactly as before.

With cutoff ``c`` (now minus the group's ``offline_retention``), a row may go only if its event
time is before ``c``, it was written at or before ``c``, and it is not part of its record's
state at ``c`` (the rows at the newest event time before ``c``, among those written by ``c``).
Then for any event time ``T >= c`` and known-at ``K >= c``, the newest row per record with
event <= T and write <= K is unchanged: rows with event >= c all stay, a late row (event < c,
written after c) stays, and of the rest only the newest could ever win. A question about an
earlier instant is refused (see ``check``) rather than answered from partial history.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ValidationError
from ..common.sqltext import q
from ..common.timeutil import us_to_iso

if TYPE_CHECKING:
    import pyarrow as pa

    from ..model.schema import FeatureGroup


def kept(group: "FeatureGroup", rows: "pa.Table", cutoff_us: int) -> "pa.Table":
    """``rows`` (every row with an event time before ``cutoff_us``, and any others) without the
    history the cutoff lets go."""
    from ..common import duck

    from ..common.sqltext import ts_literal

    c = ts_literal(cutoff_us)
    rid = ", ".join(q(k) for k in group.identifiers)
    with duck.cursor() as con:
        con.register("__rows", rows)
        return con.sql(
            f"SELECT * EXCLUDE (__old, __rank) FROM (SELECT *, _event_time < {c} AND write_time <= {c} AS __old, "
            f"dense_rank() OVER (PARTITION BY {rid}, _event_time < {c} AND write_time <= {c} "
            f"ORDER BY _event_time DESC) AS __rank FROM __rows) WHERE NOT __old OR __rank = 1"
        ).to_arrow_table()


def check(group: "FeatureGroup", retained_from_us: int | None, instant_us: int | None, what: str) -> None:
    """Refuse a question about an instant before the group's retained history."""
    if retained_from_us is not None and instant_us is not None and instant_us < retained_from_us:
        raise ValidationError(
            f"{what} {us_to_iso(instant_us)} is before the history {group.name!r} keeps (from "
            f"{us_to_iso(retained_from_us)}, its offline_retention); ask about a later time, or raise the "
            "retention before older history is dropped", group=group.name)
