"""What an operation handler gets: the store, the validated input, and who is asking."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..featurestore import FeatureStore


@dataclass(frozen=True)
class Call:
    """One API call. ``region`` is the one the client signed for (ARNs echo it); ``policy`` the
    caller's key's test for feature-group names, or None when the server runs open."""

    fs: "FeatureStore"
    input: dict[str, Any]
    region: str = "us-east-1"
    policy: Callable[[str], bool] | None = None
    source: str = "http-api"  # who wrote, for the quarantine and validation runs: http:<access key id> when signed

    def visible(self, name: str) -> bool:
        """Whether listings and searches may show this group to the caller."""
        return self.policy is None or self.policy(name)
