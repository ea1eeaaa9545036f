"""The access methods of ``FeatureStore``: another principal's view of an open store, and the
audit log. ``FeatureStore`` mixes them in."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..common.timeutil import arg_to_us, now_us
from . import audit, local, published
from .guard import Guard

SIGN_IN_OUTCOMES = ("denied", "locked")

if TYPE_CHECKING:
    import pandas as pd

    from ..featurestore import FeatureStore


class AccessMethods:
    @property
    def governed(self: "FeatureStore") -> bool:
        """Whether an access policy (the store's access file, or one published in its tables)
        governs this store; without one everything is allowed, and writes are still audited."""
        return self._ctx.policy.governed

    def with_principal(self: "FeatureStore", principal: Any) -> "FeatureStore":
        """The same open store seen as another principal of its access file (a name, or a
        ``Principal``; on a store without one, whose writes are logged in that name): the server
        and the studio take one per signed-in caller. Do not close it."""
        import copy

        handle = copy.copy(self)
        policy = self._ctx.policy
        handle._ctx = self._ctx.with_policy(lambda ctx: Guard(policy.file, principal, ctx, policy.live))
        return handle

    def allowed(self: "FeatureStore", action: str, group: str | None = None) -> bool:
        """Whether this handle's principal may call ``action`` (a ``FeatureStore`` method name) on
        ``group`` (None: store-wide), as the check the call meets would decide: front ends hide or
        disable what would be refused. Everything is allowed on a store without an access policy.
        Raises ValidationError for a name that is not a method."""
        from .guard import ACTIONS

        if action not in ACTIONS:
            raise ValidationError(f"{action!r} is not a FeatureStore method; give a method name such as "
                                  "'set_monitor' or 'delete_dataset'", action=action)
        role, where = ACTIONS[action]
        if role is None:
            return True
        if group is None and where is not None and where.endswith("?") and role in ("owner", "editor"):
            role = "admin"  # store-wide upkeep (compacting every group) is an admin's
        return self._ctx.policy.may(role, group)

    def record_sign_in(self: "FeatureStore", name: str, outcome: str, details: dict[str, Any] | None = None) -> None:
        """Log a refused sign-in to a front end of this store (the studio's password form), in the
        name tried: ``outcome`` "denied" (wrong name or password) or "locked" (too many failures
        in a row). The entry also names the principal that recorded it (``via``): the name tried is
        only a claim, and an entry made by another caller is attributable to it. Raises
        ValidationError for another outcome."""
        if outcome not in SIGN_IN_OUTCOMES:
            raise ValidationError(f"A sign-in's outcome is one of {', '.join(SIGN_IN_OUTCOMES)}, not {outcome!r}",
                                  outcome=outcome)
        with self._ctx.db.write() as conn:
            audit.append(conn, now_us(), name[:200] or "(empty)", "sign_in", None, outcome,
                         {**(details or {}), "via": self._ctx.policy.name})

    def publish_access(self: "FeatureStore", path: str | None) -> None:
        """Make the access file at ``path`` this shared store's policy on every machine, or with
        None withdraw it (an admin's call; see ``store.access.published``)."""
        published.publish(self._ctx, path)

    def remove_access_policy(self: "FeatureStore") -> dict[str, str]:
        """Stop enforcing the local access file (an admin's call, while the file still reads): it
        is moved aside to ``<file>.removed`` and the store's record of it cleared, audited, so the
        store opens without a policy; until then a store that had one refuses to open without it.
        Returns {"path", "kept_as"}. See ``store.access.local``."""
        return local.remove(self._ctx)

    def audit(self: "FeatureStore", since: Any = None, principal: str | None = None, group: str | None = None,
              action: str | None = None, limit: int = 10_000) -> "pd.DataFrame":
        """Audit entries, newest first: when, who, what, which group, outcome and counts."""
        import pandas as pd

        if audit.counted(self._ctx.db.get()):
            with self._ctx.db.write() as conn:  # the puts counted so far, as entries
                audit.fold(conn)
        rows = audit.entries(self._ctx.db.get(), arg_to_us(since, "since") if since is not None else None, principal,
                             group, action, limit)
        frame = pd.DataFrame(rows, columns=["id", "at_us", "principal", "action", "group_name", "outcome", "details"])
        frame.insert(1, "at", pd.to_datetime(frame.pop("at_us"), unit="us", utc=True))
        return frame.rename(columns={"group_name": "group"})

    def verify_audit(self: "FeatureStore") -> dict[str, Any]:
        """Check the audit log's hash chain and that it ends where its recorded head says:
        {"ok", "entries", "last_id", "last_hash", "first_bad_id", "problem"}. Keep "entries" and
        "last_hash" somewhere else too: a later check against them catches even an attacker who
        rewrote the whole log."""
        if audit.counted(self._ctx.db.get()):
            with self._ctx.db.write() as conn:  # the puts counted so far, as entries
                audit.fold(conn)
        with self._ctx.db.read() as conn:
            return audit.verify(conn)

