"""``featurestore entities``, ``entity NAME``, ``create-entity`` and ``attach-entity``: the
command line of entities, one ``FeatureStore`` call each."""
from __future__ import annotations

import click

from .kit import echo_json, open_store


@click.command("entities")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def entities(ctx: click.Context, as_json: bool) -> None:
    """List entities: their key columns and the feature groups about them."""
    found = open_store(ctx).list_entities()
    if as_json:
        echo_json([e.to_dict() for e in found])
        return
    if not found:
        click.echo("No entities yet: define one with featurestore create-entity NAME --key customer_id:Integral")
    for e in found:
        keys = ", ".join(f"{k.name} ({k.type})" for k in e.keys)
        click.echo(f"{e.name}\tkeys: {keys}\tgroups: {', '.join(e.groups) or '-'}\t{e.description}")


@click.command("entity")
@click.argument("name")
@click.option("--lookup", "values", multiple=True, metavar="VALUE",
              help="Show everything the online store holds about this entity: one value per key column, in order.")
@click.pass_context
def entity(ctx: click.Context, name: str, values: tuple[str, ...]) -> None:
    """Show an entity as JSON (with --lookup: its latest features in every group about it)."""
    fs = open_store(ctx)
    if not values:
        echo_json(fs.entity(name).to_dict())
        return
    echo_json(fs.entity_record(name, list(values) if len(values) > 1 else values[0]))


def _pairs(items: tuple[str, ...], what: str, sep: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, found, value = item.partition(sep)
        if not found or not key:
            raise click.UsageError(f"{what} {item!r} must look like key{sep}value")
        out[key] = value
    return out


@click.command("create-entity")
@click.argument("name")
@click.option("--key", "keys", multiple=True, required=True, metavar="NAME:TYPE",
              help="A key column and its type (Integral, Fractional, String; default String); repeat for several.")
@click.option("--description", default="")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag; repeat.")
@click.pass_context
def create_entity(ctx: click.Context, name: str, keys: tuple[str, ...], description: str,
                  tags: tuple[str, ...]) -> None:
    """Define an entity: what rows are about (customer, keyed by customer_id:Integral)."""
    specs = []
    for key in keys:
        column, _, kind = key.partition(":")
        specs.append({"name": column, "type": kind or "String"})
    made = open_store(ctx).create_entity(name, specs, description, _pairs(tags, "--tag", "="))
    click.echo(f"Created entity {made.name} keyed by {', '.join(f'{k.name} ({k.type})' for k in made.keys)}")


@click.command("attach-entity")
@click.argument("group")
@click.argument("entity_name", metavar="ENTITY", required=False)
@click.option("--map", "mapping", multiple=True, metavar="COLUMN=KEY",
              help="The group's identifier column and the entity key it holds, when the names differ.")
@click.option("--detach", is_flag=True, help="Declare no entity for the group.")
@click.pass_context
def attach_entity(ctx: click.Context, group: str, entity_name: str | None, mapping: tuple[str, ...],
                  detach: bool) -> None:
    """Declare the entity a feature group's rows are about (or --detach it)."""
    if detach == bool(entity_name):
        raise click.UsageError("Give an ENTITY, or --detach")
    g = open_store(ctx).update_feature_group(group, entity=None if detach else entity_name,
                                             entity_keys=_pairs(mapping, "--map", "=") or None)
    if g.entity is None:
        click.echo(f"{group} declares no entity now")
    else:
        keys = ", ".join(f"{c} -> {k}" for c, k in g.entity_keys.items())
        click.echo(f"{group} is about {g.entity} ({keys})")
