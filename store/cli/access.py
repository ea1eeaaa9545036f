"""``featurestore audit`` and ``featurestore access``: the audit log, and the access file's helpers."""
from __future__ import annotations

import click

from .kit import FriendlyGroup, echo_json, open_store


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
            click.echo(f"The audit log is intact: {result['entries']:,} entries, each chained to the one before, "
                       f"ending at entry {result['last_id']}")
            click.echo(f"Entries: {result['entries']}  last hash: {result['last_hash']}  (keep these outside the "
                       "store: a log rewritten whole verifies, but no longer holds this hash)")
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
    """Helpers for the access file (access.yaml in the store folder, or published for a shared store)."""


@access.command("publish")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--withdraw", is_flag=True, help="Remove the published policy (each folder's access file applies again).")
@click.pass_context
def publish(ctx: click.Context, file: str | None, withdraw: bool) -> None:
    """Make FILE the access policy of a store whose tables are on a server, for every machine."""
    if bool(file) == withdraw:
        raise click.UsageError("Give the access file to publish, or --withdraw")
    open_store(ctx).publish_access(None if withdraw else file)
    click.echo("Access policy withdrawn" if withdraw else
               f"Published {file}: every process that opens the store enforces it, and those already under a "
               "published policy switch to it at their next call (restart those opened without one)")


@access.command("remove")
@click.pass_context
def remove(ctx: click.Context) -> None:
    """Stop enforcing the store's local access file (admins, while it still reads): the file is
    moved aside and the store opens without a policy from now on, audited. A store that had a
    policy refuses to open without its file until this is run."""
    done = open_store(ctx).remove_access_policy()
    click.echo(f"Removed the access policy {done['path']} (kept as {done['kept_as']}); the store now opens without "
               "one. Processes still running under it refuse every call until they are restarted")


@access.command("hash-password")
def hash_password() -> None:
    """Print an scrypt hash of a password (asked twice, never echoed) for a user's password_hash."""
    from ..access.policy import hash_password as make

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    click.echo(make(password))


def _prepared(ctx: click.Context, encrypted: bool) -> str:
    """The store, flushed and closed by an admin (when it has an access file), in the expected state."""
    from ..errors import AccessDenied, ValidationError
    from ..storage import encryption as crypto

    if encrypted or crypto.is_encrypted(ctx.obj["store"]):
        fs = open_store(ctx)
    else:
        with crypto.without_key_environment():  # a key set for other stores, or left from a stopped run
            fs = open_store(ctx)
    if not fs.can("admin"):
        raise AccessDenied(f"Changing how the store is encrypted needs an admin grant; {fs.principal!r} has none")
    if crypto.is_encrypted(fs.path) != encrypted:
        raise ValidationError(f"The store at {fs.path} is {'not ' if encrypted else ''}encrypted; "
                              + ("use `featurestore encrypt`" if encrypted else "use `featurestore rekey`"))
    path = fs.path
    fs.close()  # buffered puts reach Parquet first
    ctx.obj["fs"] = None
    return path


def _new_key_file(key_file: str) -> bytes:
    import os

    from ..storage import encryption as crypto

    if os.path.exists(key_file):
        raise click.UsageError(f"{key_file} exists; choose a new file for the key")
    key = crypto.new_key()
    crypto.write_key_file(key_file, key)
    return key


@click.command("encrypt")
@click.option("--key-file", required=True, type=click.Path(dir_okay=False), help="Where to write the new key.")
@click.pass_context
def encrypt(ctx: click.Context, key_file: str) -> None:
    """Encrypt an existing store (its database and every Parquet file) under a new key. Stop
    studios, servers and schedulers on it first."""
    from ..access.rekey import rekey as run

    path = _prepared(ctx, encrypted=False)
    done = run(path, _new_key_file(key_file), None)
    click.echo(f"Encrypted {path} ({done['parquet_files']:,} Parquet files and the database); its key is in "
               f"{key_file}: keep a copy somewhere safe, and open the store with $FEATURESTORE_KEY_FILE={key_file}")


@click.command("rekey")
@click.option("--key-file", required=True, type=click.Path(dir_okay=False), help="Where to write the new key.")
@click.pass_context
def rekey(ctx: click.Context, key_file: str) -> None:
    """Re-encrypt an encrypted store under a new key (the current one from $FEATURESTORE_KEY or
    $FEATURESTORE_KEY_FILE). Stop studios, servers and schedulers on it first."""
    from ..storage import encryption as crypto
    from ..access.rekey import rekey as run

    path = _prepared(ctx, encrypted=True)
    old = crypto.load_key(path)
    done = run(path, _new_key_file(key_file), old)
    click.echo(f"Re-encrypted {path} ({done['parquet_files']:,} Parquet files and the database) under the key in "
               f"{key_file}; the old key no longer opens it")
