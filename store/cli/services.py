"""``featurestore services``, ``service NAME [--history]`` and ``create-service``: the command line of feature
services, one ``FeatureStore`` call each."""
from __future__ import annotations

from typing import Any

import click

from .kit import echo_json, open_store


@click.command("services")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def services(ctx: click.Context, as_json: bool) -> None:
    """List feature services: their current version, groups and feature count."""
    found = open_store(ctx).list_feature_services()
    if as_json:
        echo_json([s.to_dict() for s in found])
        return
    if not found:
        click.echo("No feature services yet: define one with featurestore create-service NAME --feature group:feature")
    for s in found:
        click.echo(f"{s.name}\tv{s.version}\t{len(s.features)} features\tgroups: {', '.join(s.groups)}\t{s.description}")


@click.command("service")
@click.argument("name")
@click.option("--version", type=int, default=None, help="An earlier version (default: the current one).")
@click.option("--lookup", "lookups", multiple=True, metavar="KEY=VALUE",
              help="Read the service's online vector for one entity row: a key column and its value; repeat.")
@click.option("--request", "requests", multiple=True, metavar="FIELD=VALUE",
              help="With --lookup: a request value its on-demand features read (typed as they declare); repeat.")
@click.option("--history", is_flag=True, help="Every version of the service, oldest first, as a JSON list.")
@click.pass_context
def service(ctx: click.Context, name: str, version: int | None, lookups: tuple[str, ...], requests: tuple[str, ...],
            history: bool) -> None:
    """Show a feature service as JSON (with --lookup: its online vector for one entity row, each
    feature's value, status and event time; with --history: every version)."""
    if history and (version is not None or lookups or requests):
        raise click.UsageError("--history lists every version: give it without --version, --lookup and --request")
    if requests and not lookups:
        raise click.UsageError("--request gives request values for a --lookup: give the entity row with --lookup")
    fs = open_store(ctx)
    if history:
        echo_json([s.to_dict() for s in fs.feature_service_history(name)])
        return
    if not lookups:
        echo_json(fs.feature_service(name, version).to_dict())
        return
    row = {}
    for item in lookups:
        key, found, value = item.partition("=")
        if not found or not key:
            raise click.UsageError(f"--lookup {item!r} must look like key=value")
        row[key] = int(value) if value.lstrip("-").isdigit() else value
    request = {}
    for item in requests:
        key, found, value = item.partition("=")
        if not found or not key:
            raise click.UsageError(f"--request {item!r} must look like field=value")
        request[key] = value  # text; the store types it as the on-demand feature declares
    got = fs.get_online_features(name, [row], version=version, request=request or None, as_dict=True)
    echo_json(vector(got))


def vector(got: dict[str, Any]) -> dict[str, Any]:
    """One entity row of ``get_online_features(..., as_dict=True)`` as flat JSON: the keys, each
    feature's value, then its ``__status`` and ``__event_time`` (ISO-8601; null for a feature
    without a record, and for on-demand outputs, which are computed now)."""
    from ..common.timeutil import us_to_iso

    values, statuses, times = got["values"], got["statuses"], got["event_times"]
    out = {k: values[k][0] for k in got["keys"]}
    out |= {f: _plain(values[f][0]) for f in got["features"]}
    out |= {f"{f}__status": statuses[f][0] for f in got["features"]}
    out |= {f"{f}__event_time": None if times[f][0] is None else us_to_iso(times[f][0]) for f in got["features"]}
    return out


def _plain(value: Any) -> Any:
    """NaN (0/0 in an on-demand output) as null, as the DataFrame's isna() has it: JSON has no NaN."""
    return None if isinstance(value, float) and value != value else value


@click.command("create-service")
@click.argument("name")
@click.option("--feature", "features", multiple=True, required=True, metavar="GROUP[:FEATURE|:*]",
              help="A feature ('group:feature'), or a whole group ('group' or 'group:*'); repeat.")
@click.option("--description", default="")
@click.pass_context
def create_service(ctx: click.Context, name: str, features: tuple[str, ...], description: str) -> None:
    """Define a feature service: the features a model reads, from one or more groups."""
    made = open_store(ctx).create_feature_service(name, list(features), description)
    click.echo(f"Created feature service {made.name} v{made.version} with {len(made.features)} features "
               f"from {', '.join(made.groups)}")
