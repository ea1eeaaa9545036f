"""``featurestore audit`` and ``featurestore access``: the audit log, and the access file's helpers."""
from __future__ import annotations

import click

from ..clikit import FriendlyGroup, echo_json, open_store


@click.command("audit")
@click.option("--since", help="Entries from this instant (ISO-8601).")
@click.option("--principal", help="Only this principal's entries.")
@click.option("--group", help="Only entries about this feature group.")
@click.option("--action", help="Only this action, e.g. ingest or put_record.")
@click.option("--limit", type=int, default=1000, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option("--verify", is_flag=True, help="Check the log's hash chain instead; exit code 1 if it was altered.")
@click.pass_context
def audit(ctx: click.Context, since: str | None, principal: str | None, group: str | None, action: str | None,
          limit: int, fmt: str, as_json: bool, verify: bool) -> None:
    """Who changed what, newest first (admins). Never holds feature values or secrets."""
    fs = open_store(ctx)
    if verify:
        result = fs.verify_audit()
        if result["ok"]:
            click.echo(f"The audit log is intact: {result['entries']:,} entries, each chained to the one before")
            return
        click.echo(f"The audit log was altered: {result['problem']}", err=True)
        ctx.exit(1)
    frame = fs.audit(since, principal, group, action, limit)
    fmt = "json" if as_json else fmt
    if fmt == "json":
        echo_json(frame.assign(at=frame["at"].astype(str)).to_dict("records"))
    elif fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    else:
        click.echo(frame.to_string(index=False) if len(frame) else "No audit entries")


@click.group("access", cls=FriendlyGroup)
def access() -> None:
    """Helpers for the access file (access.yaml in the store folder)."""


@access.command("hash-password")
def hash_password() -> None:
    """Print an scrypt hash of a password (asked twice, never echoed) for a user's password_hash."""
    from .policy import hash_password as make

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    click.echo(make(password))
