"""The access calls behind the facade's access methods: another principal's view of an open
store, whether a call would be allowed, refused sign-ins, the policy's publication and removal,
and the audit log. Each takes the store's context; the facade's docstrings say what they do."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..common.timeutil import arg_to_us, now_us
from . import audit as log
from . import local, published
from .guard import ACTIONS, Guard

SIGN_IN_OUTCOMES = ("denied", "locked")

if TYPE_CHECKING:
    import pandas as pd

    from ..core.context import StoreContext


def governed(ctx: "StoreContext") -> bool:
    return ctx.policy.governed


def with_principal(ctx: "StoreContext", principal: Any) -> "StoreContext":
    """The same parts under a guard for ``principal``, following the same policy as ``ctx``'s."""
    policy: Guard = ctx.policy  # type: ignore[assignment]  # the guard: its file and live policy are shared
    return ctx.with_policy(lambda other: Guard(policy.file, principal, other, policy.live))


def allowed(ctx: "StoreContext", action: str, group: str | None = None) -> bool:
    if action not in ACTIONS:
        raise ValidationError(f"{action!r} is not a FeatureStore method; give a method name such as "
                              "'set_monitor' or 'delete_dataset'", action=action)
    role, where = ACTIONS[action]
    if role is None:
        return True
    if group is None and where is not None and where.endswith("?") and role in ("owner", "editor"):
        role = "admin"  # store-wide upkeep (compacting every group) is an admin's
    return ctx.policy.may(role, group)


def record_sign_in(ctx: "StoreContext", name: str, outcome: str, details: dict[str, Any] | None = None) -> None:
    if outcome not in SIGN_IN_OUTCOMES:
        raise ValidationError(f"A sign-in's outcome is one of {', '.join(SIGN_IN_OUTCOMES)}, not {outcome!r}",
                              outcome=outcome)
    with ctx.db.write() as conn:  # "via": the name tried is only a claim; who recorded it is not
        log.append(conn, now_us(), name[:200] or "(empty)", "sign_in", None, outcome,
                   {**(details or {}), "via": ctx.policy.name})


def publish_access(ctx: "StoreContext", path: str | None) -> None:
    published.publish(ctx, path)


def remove_access_policy(ctx: "StoreContext") -> dict[str, str]:
    return local.remove(ctx)


def audit(ctx: "StoreContext", since: Any = None, principal: str | None = None, group: str | None = None,
          action: str | None = None, limit: int = 10_000) -> "pd.DataFrame":
    import pandas as pd

    _fold(ctx)
    rows = log.entries(ctx.db.get(), arg_to_us(since, "since") if since is not None else None, principal, group,
                       action, limit)
    frame = pd.DataFrame(rows, columns=["id", "at_us", "principal", "action", "group_name", "outcome", "details"])
    frame.insert(1, "at", pd.to_datetime(frame.pop("at_us"), unit="us", utc=True))
    return frame.rename(columns={"group_name": "group"})


def verify_audit(ctx: "StoreContext") -> dict[str, Any]:
    _fold(ctx)
    with ctx.db.read() as conn:
        return log.verify(conn)


def _fold(ctx: "StoreContext") -> None:
    """The puts counted so far, as entries, before the log is read."""
    if log.counted(ctx.db.get()):
        with ctx.db.write() as conn:
            log.fold(conn)
