"""Feature services: a named, versioned list of group features a model reads, served online by
``get_online_features`` and offline by ``build_dataset(entity_df, "service:NAME")`` with the same
columns. The features are stored explicitly (a group named whole is expanded when the service is
defined), so a feature added to a group later does not silently join a version of the service.

A service may also list on-demand features (``store.model.on_demand``), each pinned to the version
current when the service version was made; their outputs follow the group features, and the
group features they read are part of the service.

Studio-facing: ``FeatureService``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from .schema import MAX_TAGS, check_name, check_parameters, check_text

MAX_DESCRIPTION = 128_000


@dataclass(frozen=True)
class FeatureService:
    """One version of a feature service: ``features`` is an ordered tuple of (group, feature)."""

    name: str
    features: tuple[tuple[str, str], ...]
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    owner: str = ""
    version: int = 1
    created_at: int | None = None
    modified_at: int | None = None
    created_by: str = ""
    on_demand: tuple[tuple[str, int], ...] = ()  # (on-demand feature, its version), computed after the features

    def __post_init__(self) -> None:
        check_name(self.name, "Feature service")
        refs = tuple((str(g), str(f)) for g, f in self.features)
        if not refs:
            raise ValidationError(f"Feature service {self.name!r} needs at least one feature, like "
                                  "features=['customers:age', 'orders:*']", service=self.name)
        if len(set(refs)) != len(refs):
            raise ValidationError(f"Feature service {self.name!r} lists a feature twice", service=self.name)
        object.__setattr__(self, "features", refs)
        object.__setattr__(self, "on_demand", tuple((str(n), int(v)) for n, v in self.on_demand))
        if len({n for n, _ in self.on_demand}) != len(self.on_demand):
            raise ValidationError(f"Feature service {self.name!r} lists an on-demand feature twice", service=self.name)
        if not isinstance(self.description, str) or len(self.description) > MAX_DESCRIPTION:
            raise ValidationError(f"Description of feature service {self.name!r} must be a string of at most "
                                  f"{MAX_DESCRIPTION} characters", service=self.name)
        check_text(self.description, f"Description of feature service {self.name!r}")
        check_parameters(self.tags, f"feature service {self.name!r}", limit=MAX_TAGS, what="tags")
        if not isinstance(self.owner, str):
            raise ValidationError(f"owner of feature service {self.name!r} must be a string", service=self.name)

    @property
    def groups(self) -> list[str]:
        """The groups it reads, in the order of their first feature."""
        return list(dict.fromkeys(g for g, _ in self.features))

    @property
    def refs(self) -> list[str]:
        """The features as 'group:feature' references (what ``build_dataset`` takes)."""
        return [f"{g}:{f}" for g, f in self.features]

    @property
    def on_demand_refs(self) -> list[str]:
        """The on-demand features as 'on_demand:NAME@VERSION'."""
        return [f"on_demand:{n}@{v}" for n, v in self.on_demand]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "features": self.refs, "groups": self.groups,
                "on_demand": self.on_demand_refs,
                "description": self.description, "tags": dict(self.tags), "owner": self.owner,
                "created_at": self.created_at, "modified_at": self.modified_at, "created_by": self.created_by}
