"""``featurestore on-demand list | show | register | register-sql | delete``: the command line of
on-demand features, one ``FeatureStore`` call each (``register`` one per feature the file defines).

``register FILE.py`` imports the file as a module (its folder first on ``sys.path``, so it may
import its neighbours) and registers every ``OnDemandFeature`` at its top level: ``@on_demand``
functions and ``OnDemandFeature(..., sql=...)`` objects alike. Importing a file runs it, as
``python FILE.py`` would; the store then keeps each function's source text, which runs where the
store serves (registering needs the owner role on every group a feature reads).
"""
from __future__ import annotations

import importlib.util
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .kit import FriendlyGroup, echo_json, open_store

if TYPE_CHECKING:
    from ..model.on_demand import OnDemandFeature


@click.group("on-demand", cls=FriendlyGroup)
def on_demand() -> None:
    """On-demand features: values computed at read time from group features and request values."""


@on_demand.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every field, with the source) instead of a table.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List on-demand features: current version, kind, outputs, inputs and request fields."""
    found = open_store(ctx).list_on_demand_features()
    if as_json:
        echo_json([f.to_dict() for f in found])
        return
    if not found:
        click.echo("No on-demand features yet: register some with featurestore on-demand register FILE.py "
                   "(or register-sql)")
    for f in found:
        request = ", ".join(f"{k}:{t}" for k, t in f.request.items()) or "-"
        click.echo(f"{f.name}\tv{f.version}\t{f.kind}\toutputs: {', '.join(_outputs(f))}\t"
                   f"inputs: {', '.join(f.inputs) or '-'}\trequest: {request}")


@on_demand.command("show")
@click.argument("name")
@click.option("--version", type=int, default=None, help="An earlier version (default: the current one).")
@click.option("--json", "as_json", is_flag=True, help="Print the definition as JSON.")
@click.pass_context
def show(ctx: click.Context, name: str, version: int | None, as_json: bool) -> None:
    """Show an on-demand feature's definition and the source the store runs."""
    f = open_store(ctx).on_demand_feature(name, version)
    if as_json:
        echo_json(f.to_dict())
        return
    from ..common.timeutil import us_to_iso

    click.echo(f"{f.name}@{f.version} ({f.kind}{'' if f.sql is not None else ', mode ' + f.mode})")
    if f.description:
        click.echo(f"description: {f.description}")
    click.echo(f"inputs:  {', '.join(f.inputs) or '-'}")
    click.echo(f"request: {', '.join(f'{k}:{t}' for k, t in f.request.items()) or '-'}")
    click.echo(f"outputs: {', '.join(_outputs(f))}")
    when = us_to_iso(f.created_at) if f.created_at is not None else "?"
    click.echo(f"owner: {f.owner or '-'}; registered by {f.created_by or '-'} at {when}")
    click.echo("source:")
    if f.sql is not None:
        for out, expr in f.sql.items():
            click.echo(f"  {out} = {expr}")
    else:
        click.echo(f.source.rstrip("\n"))


@on_demand.command("register")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def register(ctx: click.Context, file: str) -> None:
    """Register every on-demand feature FILE.py defines at its top level (@on_demand functions and
    OnDemandFeature(..., sql=...) objects); a changed one becomes a new version."""
    features = _features_in(file)
    fs = open_store(ctx)
    for feature in features:
        stored = fs.register_on_demand(feature)
        click.echo(f"Registered {stored.name}@{stored.version} ({stored.kind}): {', '.join(_outputs(stored))}")


@on_demand.command("register-sql")
@click.argument("name")
@click.option("--input", "inputs", multiple=True, metavar="GROUP:FEATURE", help="A group feature it reads; repeat.")
@click.option("--request", "request", multiple=True, metavar="FIELD=TYPE",
              help="A request value it reads (Integral, Fractional or String); repeat.")
@click.option("--output", "outputs", multiple=True, required=True, metavar="NAME=TYPE",
              help="An output feature (Integral, Fractional or String); repeat.")
@click.option("--sql", "sql", multiple=True, required=True, metavar="EXPR|OUTPUT=EXPR",
              help="The DuckDB expression of the one output, or OUTPUT=EXPR for each of several outputs.")
@click.option("--description", default="")
@click.pass_context
def register_sql(ctx: click.Context, name: str, inputs: tuple[str, ...], request: tuple[str, ...],
                 outputs: tuple[str, ...], sql: tuple[str, ...], description: str) -> None:
    """Register a SQL on-demand feature NAME (a new version when its definition changed)."""
    from ..model.on_demand import OnDemandFeature
    from ..model.schema import Feature

    out = [Feature(n, t) for n, t in _pairs(outputs, "--output").items()]
    names = {f.name for f in out}
    exprs: dict[str, str] | str
    mapped = {}
    for item in sql:
        head, found, expr = item.partition("=")
        if found and head.strip() in names:
            mapped[head.strip()] = expr.strip()
    if len(mapped) == len(sql):
        exprs = mapped
    elif len(sql) == 1 and len(names) == 1:
        exprs = sql[0]
    else:
        raise click.UsageError(f"With several outputs or several --sql, give each as OUTPUT=EXPR "
                               f"(outputs: {', '.join(sorted(names))})")
    feature = OnDemandFeature(name, inputs=list(inputs), request=_pairs(request, "--request"), outputs=out,
                              sql=exprs, description=description)
    stored = open_store(ctx).register_on_demand(feature)
    click.echo(f"Registered {stored.name}@{stored.version} (sql): {', '.join(_outputs(stored))}")


@on_demand.command("delete")
@click.argument("name")
@click.pass_context
def delete(ctx: click.Context, name: str) -> None:
    """Delete an on-demand feature (its versions stay); refused while a feature service uses it."""
    open_store(ctx).delete_on_demand_feature(name)
    click.echo(f"Deleted on-demand feature {name}")


def _outputs(f: "OnDemandFeature") -> list[str]:
    return [f"{o.name}:{o.type}" for o in f.outputs]


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, found, value = item.partition("=")
        if not found or not key.strip() or not value.strip():
            raise click.UsageError(f"{option} {item!r} must look like name=Type")
        out[key.strip()] = value.strip()
    return out


def _features_in(file: str) -> list["OnDemandFeature"]:
    """Every OnDemandFeature at the top level of ``file``, imported as a module of its own."""
    from ..errors import FeatureStoreError
    from ..model.on_demand import OnDemandFeature

    path = os.path.abspath(file)
    if not path.endswith(".py"):
        raise click.UsageError(f"{file} is not a Python file (.py)")
    stem = os.path.splitext(os.path.basename(path))[0]
    module_name = f"featurestore_on_demand_{stem}" if stem.isidentifier() else "featurestore_on_demand_file"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise click.ClickException(f"Cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(path)
    sys.path.insert(0, folder)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up while it runs
    try:
        spec.loader.exec_module(module)
    except FeatureStoreError as exc:  # an @on_demand or OnDemandFeature the store refuses
        raise click.ClickException(f"{file}: {exc}") from None
    except BaseException as exc:  # noqa: BLE001 - whatever the file raises, said with its name
        if isinstance(exc, (KeyboardInterrupt, click.exceptions.Exit)):
            raise
        where = _line_in(exc, path)
        raise click.ClickException(f"Cannot import {file}{where}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(module_name, None)
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    seen: dict[int, Any] = {}
    for value in vars(module).values():
        if isinstance(value, OnDemandFeature):
            seen.setdefault(id(value), value)
    if not seen:
        raise click.ClickException(f"{file} defines no on-demand feature at its top level: decorate a function with "
                                   "@on_demand(...) or assign an OnDemandFeature(..., sql=...) to a name")
    return list(seen.values())


def _line_in(exc: BaseException, path: str) -> str:
    """', line N' of the innermost frame in ``path`` (a SyntaxError carries its own line)."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f", line {exc.lineno}"
    tb, line = exc.__traceback__, None
    while tb is not None:
        if os.path.abspath(tb.tb_frame.f_code.co_filename) == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f", line {line}" if line else ""
