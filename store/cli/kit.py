"""What every ``featurestore`` command shares: opening the store, JSON output, reading spec
files, and the group class that turns the store's errors into one line and exit code 1."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from ..errors import FeatureStoreError

if TYPE_CHECKING:
    from ..featurestore import FeatureStore


def open_store(ctx: click.Context, offline: str | None = None, online: str | None = None,
               registry: str | None = None, key: bytes | None = None) -> "FeatureStore":
    from ..featurestore import FeatureStore

    if ctx.obj.get("fs") is None:
        ctx.obj["fs"] = FeatureStore(ctx.obj["store"], writer="cli", principal=ctx.obj.get("principal"),
                                     offline=offline, online=online, registry=registry, key=key)
    return ctx.obj["fs"]


def jsonable(value: Any) -> Any:
    """numpy scalars and timestamps, which json cannot encode, as plain values."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=jsonable))


def _store_after_name(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["store"] = value


class FriendlyGroup(click.Group):
    """Turns the store's errors into one line on stderr and exit code 1, never a traceback, and
    gives every command a ``--store PATH`` of its own, so it may come before or after the name."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any("--store" in p.opts for p in cmd.params):
            cmd.params.append(click.Option(["--store", "store_after"], metavar="PATH", expose_value=False,
                                           callback=_store_after_name,
                                           help="Store folder (the same as --store before the command)"))
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (FeatureStoreError, OSError) as exc:  # OSError: unwritable store folder, full disk...
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        finally:
            fs = (ctx.obj or {}).get("fs")
            if fs is not None:
                fs.close()


def read_spec(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        if path.lower().endswith((".yaml", ".yml")):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as exc:  # both parsers raise their own error types
        raise click.UsageError(f"Cannot parse {path}: {exc}") from None
