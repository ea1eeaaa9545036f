"""The bodies of the facade's definition-version methods (change features, history, a version's
definition) and the step every definition change ends with (``commit``); their documentation is
on ``FeatureStore``. What may change and how old rows read is in ``model.versions``."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Mapping

from .. import registry
from ..common.timeutil import now_us, us_to_iso
from ..errors import ValidationError
from ..model import versions as model
from ..model.schema import FeatureGroup
from ..offline import files as offline_store
from ..quality import tables as quality_tables
from ..registry import lineage
from ..registry import services as service_registry
from ..registry import on_demand as on_demand_registry
from . import upkeep
from .context import StoreContext


def commit(ctx: StoreContext, conn: Any, old: FeatureGroup, action: str, now: int) -> FeatureGroup | None:
    """Inside the write transaction that changed ``old``'s definition in the registry: keep the
    changed definition as the next version, with who, when (on the group's write clock, so a read
    known at an instant finds the version in force then) and the diff, and log it in the audit log
    in the same transaction. Returns the new definition, or None when nothing versioned changed."""
    new = registry.load_group(conn, old.name)
    changes = model.diff(old, new)
    if not changes:
        return None
    new = replace(new, version=old.version + 1)
    _, at, _ = registry.allocate(conn, old.name, 0, now, None)
    registry.record_version(conn, new, at, ctx.policy.name, changes)
    conn.execute("UPDATE feature_groups SET version = ? WHERE name = ?", (new.version, old.name))
    registry.bump_version(conn)
    ctx.policy.logged(conn, action, {"version": new.version, "changes": changes}, old.name)
    return new


def change_features(ctx: StoreContext, name: str, drop: Iterable[str], rename: Mapping[str, str] | None,
                    retype: Mapping[str, str] | None) -> FeatureGroup:
    drop = [drop] if isinstance(drop, str) else list(drop)
    now = now_us()
    with ctx.db.write() as conn:
        old = registry.load_group(conn, name)
        new = model.changed(old, drop, rename, retype)
        rules, monitor = _quality_after(conn, old, new, drop, dict(rename or {}))
        moved = set(drop) | set(rename or {})
        readers = service_registry.users(conn, name, moved) if moved else []
        if readers:  # a service version names its features: it would break, not follow
            raise ValidationError(
                f"Feature service(s) {service_registry.shown(readers, lambda g: ctx.policy.may('viewer', g))} read "
                f"{', '.join(sorted(moved))} of {name!r}; update them "
                "first (update_feature_service, leaving the feature out), then drop or rename it", group=name)
        computing = on_demand_registry.users(conn, name, moved) if moved else []
        if computing:  # its code names the feature: it would break, not follow
            shown = [f.name for f in computing if all(ctx.policy.may("viewer", g) for g in f.groups)]
            hidden = len(computing) - len(shown)
            raise ValidationError(
                f"On-demand feature(s) {', '.join(shown + ([f'{hidden} you may not see'] if hidden else []))} read "
                f"{', '.join(sorted(moved))} of {name!r}; register a version reading the new name (or delete them) "
                "first, then drop or rename it", group=name)
        if old.online:
            ctx.online.change(conn, old, new)  # a backend that cannot refuses before anything changed
        if old.offline:
            upkeep.flush_locked(ctx, conn, old, now)  # buffered rows go to files under the old version
            offline_store.drop_staging(conn, name)
            offline_store.create_staging(conn, new)
        if rules is not None:
            quality_tables.save(conn, name, now, rules=rules)
        if monitor is not None:
            quality_tables.save(conn, name, now, monitor=monitor)
        registry.replace_definition(conn, old, new, now)
        commit(ctx, conn, old, "change_features", now)
        lineage.upsert_node(conn, f"feature_group:{name}", "feature_group", name, now,
                            {"features": len(new.features), "version": new.version})
    ctx.files.committed(name)
    ctx.online.after_commit()
    return ctx.group(name)[0]


def _quality_after(conn: Any, old: FeatureGroup, new: FeatureGroup, drop: list[str],
                   rename: dict[str, str]) -> tuple[list | None, dict | None]:
    """The group's rules and monitor settings for ``new`` (None where nothing changes): a rule or
    a watched feature renamed follows the new name, a dropped feature leaves the monitor's list.
    A rule the change would break refuses it, naming the rule: removing a check silently would
    let bad rows in, and a rule that no longer compiles would make the group unreadable."""
    from ..model.rules import parse

    settings = quality_tables.settings(conn, old.name)
    rules = settings["rules"]
    for rule in rules:
        if rule.get("feature") in drop:
            raise ValidationError(
                f"Rule {rule['name']!r} of {old.name!r} checks feature {rule['feature']!r}; remove the rule first "
                "(set_rules, or the group's Quality tab), then drop the feature", group=old.name,
                feature=rule["feature"])
    renamed = [{**rule, "feature": rename.get(rule.get("feature"), rule.get("feature"))} if rule.get("feature")
               else rule for rule in rules]
    try:
        parse(new, renamed)
    except ValidationError as exc:
        raise ValidationError(
            f"This change would break a validation rule of {old.name!r}: {exc.message}. Change or remove the rule "
            "first (set_rules, or the group's Schema tab), then change the features", group=old.name) from None
    watched = settings["monitor"].get("features")
    monitor = None
    if watched:
        kept = [rename.get(f, f) for f in watched if f not in drop]
        if kept != watched:
            monitor = {**settings["monitor"], "features": kept}
    return (renamed if renamed != rules else None), monitor


def definition_history(ctx: StoreContext, name: str) -> list[dict[str, Any]]:
    ctx.group(name)  # raises NotFound for a group the caller may not see
    out = []
    for v in registry.versions(ctx.db.get(), name):
        out.append({"version": v["version"], "changed_at": us_to_iso(v["changed_us"]), "changed_us": v["changed_us"],
                    "changed_by": v["changed_by"], "changes": v["changes"], "summary": model.summary(v["changes"]),
                    "features": [f["name"] for f in v["definition"]["features"]]})
    return out


def at_version(ctx: StoreContext, name: str, version: int) -> FeatureGroup:
    current = ctx.group(name)[0]
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValidationError(f"version must be a whole number, got {version!r}", group=name)
    with ctx.db.read() as conn:
        return registry.load_version(conn, current, version)


def known_at(ctx: StoreContext, group: FeatureGroup, at_us: int | None) -> FeatureGroup:
    """``group`` as it was defined at write time ``at_us`` (None, or a group never changed: itself)."""
    if at_us is None or group.version == 1:
        return group
    with ctx.db.read() as conn:
        return registry.load_version(conn, group, registry.version_at(conn, group.name, at_us))


def current_names(ctx: StoreContext, name: str, version: int, features: list[str]) -> list[str]:
    """``features`` of group ``name`` as named at ``version``, under their current names (a rename
    since followed by id). Raises ValidationError for one dropped since."""
    current = ctx.group(name)[0]
    if version == current.version:
        return features
    with ctx.db.read() as conn:
        then = registry.load_version(conn, current, version)
    now = dict(zip(current.ids, current.feature_names))
    ids = dict(zip(then.feature_names, then.ids))
    out = []
    for f in features:
        if ids.get(f) not in now:
            raise ValidationError(f"Feature {f!r} of {name!r} was dropped after version {version}, which this dataset "
                                  "was built under; rebuild it as it was (dataset(...)) or choose other features",
                                  group=name, feature=f)
        out.append(now[ids[f]])
    return out
