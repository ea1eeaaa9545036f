"""What a front end asks of the policy in force, so it can hide what the engine would refuse:
which principal a handle acts as, whether it holds a role, and the access file itself (the
studio's password sign-in checks passwords against it). Reads only; nothing here is logged."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import AccessDenied, ValidationError
from .policy import ROLES

if TYPE_CHECKING:
    from ..core.context import StoreContext
    from .policy import AccessFile


def can(ctx: "StoreContext", role: str, group: str | None) -> bool:
    """Whether the principal holds ``role`` on ``group`` (None: on some group, or for ``admin``
    an admin grant), as the checks calls meet decide; always True without a policy."""
    if role not in ROLES:
        raise ValidationError(f"role={role!r}: give one of {', '.join(ROLES)}", role=role)
    return ctx.policy.may(role, group)


def policy(ctx: "StoreContext") -> "AccessFile | None":
    """The access file in force now (a published one as it stands), None without one. It holds
    password hashes and key secrets, so only the handle that opened the store reads it (its
    studio's sign-in, its server's keys); a principal's handle is refused, whatever its role."""
    if not ctx.opener:
        ctx.policy.record("policy", None, "denied")
        raise AccessDenied(f"Access denied: {ctx.policy.name!r} may not read the access file; it holds password "
                           "hashes and key secrets, so only the process that opened the store reads it",
                           principal=ctx.policy.name, action="policy")
    return ctx.policy.current()  # type: ignore[attr-defined]  # the Guard's, beyond the core's Policy
