"""Floor 13, ``featurestore``: the command line, a thin layer over ``FeatureStore`` (one call per
command), one module per command group (``access``, ``pipelines``, ``entities``, ``services``,
``on_demand``, ``streams``; ``kit`` holds what they share).

Heavy libraries load inside commands so ``featurestore --help`` answers at once.

May import: every floor below (``server``, ``demo``, ``upload``, the facade and its floors); the
library never imports it, so ``click`` stays out of the engine.
"""
from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator

import click

from ..errors import ValidationError

from .kit import FriendlyGroup, jsonable, echo_json, open_store, read_spec
from .access import access, audit, encrypt, rekey
from .pipelines import pipeline, scheduler
from .entities import attach_entity, create_entity, entities, entity
from .services import create_service, service, services
from .on_demand import on_demand
from .streams import stream


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "store_path", envvar="FEATURESTORE_HOME", default=None, metavar="PATH|URL",
              help="Store folder, or the postgresql://...?schema=... URL of a store on PostgreSQL "
                   "[default: $FEATURESTORE_HOME, else ./.featurestore]")
@click.option("--as", "principal", envvar="FEATURESTORE_PRINCIPAL", default=None, metavar="NAME",
              help="Act as this principal of the store's access file [default: $FEATURESTORE_PRINCIPAL, else "
                   "the OS user]")
@click.version_option(package_name="featurestore", message="%(version)s")
@click.pass_context
def main(ctx: click.Context, store_path: str | None, principal: str | None) -> None:
    """A local-first feature store: online (SQLite) and offline (Parquet) stores, time travel, lineage."""
    ctx.ensure_object(dict)
    ctx.obj["store"] = store_path or os.path.join(os.getcwd(), ".featurestore")
    ctx.obj["principal"] = principal


@main.command()
@click.option("--encrypt", is_flag=True, help="Encrypt the store's Parquet files with a new 256-bit key.")
@click.option("--key-file", type=click.Path(dir_okay=False), help="With --encrypt: where to write the new key "
              "(a file only you can read; keep it outside the store and back it up).")
@click.option("--offline", metavar="LOCATION", help="Keep the Parquet files elsewhere: a folder, or s3://bucket/prefix "
              "(endpoint, region and credentials from the AWS variables; see featurestore.yaml).")
@click.option("--online", metavar="URL", help="Keep the online records in Redis (redis://host:port/db) or "
              "PostgreSQL (postgresql://user@host:port/db) instead of the registry's database.")
@click.option("--registry", metavar="URL", help="Keep the store's tables (registry, manifest, lineage, online "
              "records, ...) in PostgreSQL (postgresql://user@host:port/db) instead of featurestore.db, so "
              "servers and studios on several machines share the store (they open it by the URL this prints).")
@click.pass_context
def init(ctx: click.Context, encrypt: bool, key_file: str | None, offline: str | None, online: str | None,
         registry: str | None) -> None:
    """Create an empty store (nothing happens if it exists)."""
    if encrypt and registry:
        raise click.UsageError("--encrypt keeps the registry in an encrypted SQLite file; a registry on PostgreSQL "
                               "relies on the server's encryption at rest and TLS (leave out one of the two)")
    if encrypt:
        from ..storage import encryption as crypto

        path = os.path.abspath(ctx.obj["store"])
        if not key_file:
            raise click.UsageError("--encrypt needs --key-file PATH, where the new key is written")
        if os.path.exists(os.path.join(path, "featurestore.db")):
            raise click.UsageError(f"{path} already holds a store; --encrypt makes new stores only")
        if os.path.exists(key_file):
            raise click.UsageError(f"{key_file} exists; choose a new file for the key")
        key = crypto.new_key()
        os.makedirs(path, exist_ok=True)
        crypto.write_key_file(key_file, key)
        crypto.mark(path, key)
        click.echo(f"Encrypted store at {path}; its key is in {key_file}. Without the key the data cannot be read: "
                   f"keep a copy somewhere safe, and open the store with ${crypto.KEY_FILE_ENV}={key_file}")
    fs = open_store(ctx, offline, online, registry, key if encrypt else None)
    where = "" if fs.registry_location.startswith("sqlite:") else f"; registry at {fs.registry_location}"
    if fs.offline_location != os.path.join(fs.path, "offline"):
        where += f"; offline files at {fs.offline_location}"
    where += "" if fs.online_location == fs.registry_location else f"; online store at {fs.online_location}"
    click.echo(f"Store ready at {fs.path}{where}")
    if fs.shared_url:
        click.echo(f"Other machines open it with --store '{fs.shared_url}' (the password from $PGPASSWORD or ~/.pgpass)")


@main.command()
@click.option("--force", is_flag=True, help="Seed even if the store already has feature groups.")
@click.pass_context
def demo(ctx: click.Context, force: bool) -> None:
    """Seed the store with the sample fraud/e-commerce data (groups, history, a feature service, a dataset, a model)."""
    from ..demo import seed, seed_if_empty

    fs = open_store(ctx)
    if force:
        summary = seed(fs)
    elif not seed_if_empty(fs):
        click.echo(f"{fs.path} already has feature groups; use --force to seed anyway")
        return
    else:
        summary = None
    click.echo(f"Seeded {fs.path}: " + ", ".join(g.name for g in fs.list_feature_groups()))
    if summary:
        echo_json(summary)


@main.command("list")
@click.pass_context
def list_groups(ctx: click.Context) -> None:
    """List feature groups."""
    for g in open_store(ctx).list_feature_groups():
        stores = "+".join(s for s, on in (("online", g.online), ("offline", g.offline)) if on)
        click.echo(f"{g.name}\t{len(g.features)} features\t{stores}\t{g.description}")


@main.command()
@click.argument("group")
@click.option("--version", "version", type=int, default=None, help="That definition version's definition.")
@click.pass_context
def describe(ctx: click.Context, group: str, version: int | None) -> None:
    """Show a group's definition and figures as JSON."""
    info = open_store(ctx).describe(group, version=version)
    g = info.pop("group")
    key = list(g.identifiers) if g.composite else g.identifiers[0]
    echo_json({"name": g.name, "record_identifier": key, "event_time": g.event_time,
               "description": g.description, "tags": g.tags, "online": g.online, "offline": g.offline,
               "ttl_seconds": g.ttl_seconds, "features": [f.to_dict() for f in g.features], **info})


@main.command()
@click.argument("group")
@click.option("--json", "as_json", is_flag=True, help="Every version with its full diff, as JSON.")
@click.pass_context
def history(ctx: click.Context, group: str, as_json: bool) -> None:
    """A group's definition versions: when, by whom, and what changed."""
    versions = open_store(ctx).definition_history(group)
    if as_json:
        echo_json(versions)
        return
    for v in versions:
        click.echo(f"v{v['version']}\t{v['changed_at']}\t{v['changed_by']}\t{v['summary']}")


@main.command("change")
@click.argument("group")
@click.option("--drop", multiple=True, metavar="FEATURE", help="Drop a feature (repeat for more).")
@click.option("--rename", multiple=True, metavar="OLD=NEW", help="Rename a feature (repeat for more).")
@click.option("--retype", multiple=True, metavar="FEATURE=TYPE", help="Widen a feature: Fractional or String.")
@click.pass_context
def change(ctx: click.Context, group: str, drop: tuple[str, ...], rename: tuple[str, ...],
           retype: tuple[str, ...]) -> None:
    """Drop, rename or widen features, as one new definition version (history stays readable)."""
    def pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
        bad = [v for v in values if "=" not in v]
        if bad:
            raise click.UsageError(f"{option} takes NAME=VALUE, got {bad[0]!r}")
        return dict(v.split("=", 1) for v in values)

    g = open_store(ctx).change_features(group, drop=drop, rename=pairs(rename, "--rename"),
                                        retype=pairs(retype, "--retype"))
    click.echo(f"{group} is now at definition version {g.version}: {', '.join(g.feature_names)}")


@main.command()
@click.argument("spec", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--name", help="Group name (with --from-file).")
@click.option("--from-file", "sample", type=click.Path(exists=True, dir_okay=False),
              help="Infer the features from this CSV/Parquet file.")
@click.option("--record-identifier", "--id", "rid",
              help="Record identifier column (with --from-file); several, comma-separated in key order, for a key of "
                   "several columns (merchant_id,terminal_id).")
@click.option("--event-time", help="Event time column (with --from-file).")
@click.option("--description", default="")
@click.option("--time-format", help="How the file's event times are written, in strftime codes (e.g. "
              "'%d.%m.%Y %H:%M'); detected when unambiguous, and kept with the group for later ingests.")
@click.option("--ingest/--no-ingest", default=False, help="Also ingest the --from-file data.")
@click.pass_context
def create(ctx: click.Context, spec: str | None, name: str | None, sample: str | None, rid: str | None,
           event_time: str | None, description: str, time_format: str | None, ingest: bool) -> None:
    """Create a feature group from a JSON/YAML SPEC file, or infer it --from-file.

    A spec holds name, record_identifier (a feature, or a list of features in key order),
    event_time, features (name, type, collection, dimension, description, parameters), and
    optionally description, tags, online, offline, ttl.
    """
    fs = open_store(ctx)
    if spec:
        data = read_spec(spec)
        if not isinstance(data, dict):
            raise click.UsageError("The spec must be a mapping with name, record_identifier, event_time, features")
        known = {"name", "record_identifier", "event_time", "features", "description", "tags", "online", "offline", "ttl",
                 "time_format"}
        unknown = set(data) - known
        if unknown:
            raise click.UsageError(f"Unknown keys in spec: {sorted(unknown)}; allowed: {sorted(known)}")
        missing = {"name", "record_identifier", "event_time", "features"} - set(data)
        if missing:
            raise click.UsageError(f"The spec lacks {sorted(missing)}")
        g = fs.create_feature_group(**({"time_format": time_format} if time_format else {}) | data)
    else:
        from ..ingest.infer import propose_file

        if not (sample and name and rid and event_time):
            raise click.UsageError("Give a SPEC file, or --from-file with --name, --record-identifier and --event-time")
        key = [c.strip() for c in rid.split(",")]
        proposal = propose_file(sample, event_time=event_time, record_identifier=key[0], time_format=time_format)
        proposal.check_event_time()  # a group that could not take its own file is refused
        identifiers = [proposal.columns.get(c, c) for c in key] if len(key) > 1 else proposal.record_identifier
        g = fs.create_feature_group(name, identifiers, proposal.event_time, proposal.features,
                                    description=description, time_format=proposal.time_format)
        for feature, note in proposal.notes.items():
            click.echo(f"  {feature}: {note}")
        if proposal.time_format:
            click.echo(f"  {g.event_time}: read with the time format {proposal.time_format}, kept for later ingests")
    click.echo(f"Created {g.name}: " + ", ".join(f"{f.name}:{f.collection or ''}{f.type}" for f in g.features))
    if ingest and sample:
        click.echo(fs.ingest(g.name, sample).summary())


@main.command("ingest")
@click.argument("group")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--skip-bad", is_flag=True, help="Write the valid rows and report the bad ones.")
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False),
              help="Write the report of bad values (line or row, feature, value, reason) to this CSV.")
@click.option("--rejected", "rejected_path", type=click.Path(dir_okay=False),
              help="Write the rejected rows as they were in the file (its delimiter, encoding and number format), "
                   "plus a line and an error column, to this CSV.")
@click.option("--time-format", help="How the file's event times are written, in strftime codes (e.g. "
              "'%d.%m.%Y %H:%M'); default: the format kept with the group, else ISO-8601.")
@click.pass_context
def ingest_cmd(ctx: click.Context, group: str, file: str, skip_bad: bool, errors_path: str | None,
               rejected_path: str | None, time_format: str | None) -> None:
    """Validate and write a CSV or Parquet FILE into GROUP (all or nothing unless --skip-bad).

    CSV encodings (UTF-8, Windows-1252, Latin-1) and delimiters are detected; event times may
    carry an offset or no zone (UTC)."""
    from ..errors import IngestRejected

    fs = open_store(ctx)
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= 50_000:
            bar = click.progressbar(length=total, label=f"Writing {group}", file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    def keep(report: Any) -> None:
        if errors_path:
            report.errors.to_csv(errors_path, index=False)
        if rejected_path:
            with open(rejected_path, "wb") as fh:
                fh.write(report.rejected_csv())

    try:
        report = fs.ingest(group, file, on_error="skip" if skip_bad else "reject", progress=progress,
                           time_format=time_format)
    except IngestRejected as exc:
        keep(exc.report)
        if exc.skippable:  # the advice in this interface's words, not the API's on_error='skip'
            raise IngestRejected(f"{exc.reason} Fix them, or pass --skip-bad to write the valid rows.",
                                 exc.report) from None
        raise
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(report.summary())
    if report.rows_rejected:
        keep(report)
        if errors_path or rejected_path:
            click.echo(f"Bad rows listed in {' and '.join(p for p in (errors_path, rejected_path) if p)}")
        else:
            click.echo(report.errors.head(20).to_string(index=False), err=True)
    if report.rows_warned:
        click.echo(report.warnings.head(20).to_string(index=False), err=True)


@main.command()
@click.argument("group")
@click.argument("record_id")
@click.option("--features", help="Comma-separated feature names to return.")
@click.pass_context
def get(ctx: click.Context, group: str, record_id: str, features: str | None) -> None:
    """Print the latest record of RECORD_ID from the online store as JSON (a group keyed by
    several columns takes a JSON array of the key's values in key order: '["m1",7]')."""
    fs = open_store(ctx)
    with cli_keys(fs, group, record_id):
        record = fs.get_record(group, record_key(fs, group, record_id), features.split(",") if features else None)
    if record is None:
        click.echo(f"No live record {record_id!r} in {group!r}", err=True)
        ctx.exit(1)
    echo_json(record)


def record_key(fs: Any, group: str, text: str) -> Any:
    """RECORD_ID as the store takes it: the text, or for a group keyed by several columns the
    values of its JSON array in key order (each typed by the store). A text that is no JSON array
    is passed on without reading the definition: the call itself is checked and refused."""
    if not text.startswith("["):
        return text
    g = fs.feature_group(group)
    if not g.composite:
        return text
    try:
        values = json.loads(text)
    except json.JSONDecodeError:
        values = None
    if not isinstance(values, list):
        raise key_usage(g)
    return values


def key_usage(g: Any) -> click.UsageError:
    example = json.dumps(["m1", 7][:len(g.identifiers)] + ["x"] * (len(g.identifiers) - 2))
    return click.UsageError(f"{g.name} is keyed by {', '.join(g.identifiers)}: give RECORD_ID as a JSON array of "
                            f"their values in that order, e.g. '{example}'")


@contextmanager
def cli_keys(fs: Any, group: str, text: str) -> Iterator[None]:
    """A text given for a composite group's key (not a JSON array, so passed on as it is and
    refused by the store) is refused with the form the CLI takes."""
    try:
        yield
    except ValidationError:
        if not text.startswith("[") and fs.feature_group(group).composite:
            raise key_usage(fs.feature_group(group)) from None
        raise


@main.command()
@click.argument("group")
@click.argument("record_json")
@click.pass_context
def put(ctx: click.Context, group: str, record_json: str) -> None:
    """Write one record given as a JSON object."""
    try:
        record = json.loads(record_json)
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"RECORD_JSON is not JSON: {exc}") from None
    open_store(ctx).put_record(group, record)
    click.echo("ok")


@main.command("delete-record")
@click.argument("group")
@click.argument("record_id")
@click.argument("event_time")
@click.option("--hard", is_flag=True, help="Forget the record instead of leaving a tombstone.")
@click.pass_context
def delete_record(ctx: click.Context, group: str, record_id: str, event_time: str, hard: bool) -> None:
    """Delete RECORD_ID as of EVENT_TIME (soft by default; RECORD_ID as ``get`` takes it)."""
    fs = open_store(ctx)
    with cli_keys(fs, group, record_id):
        outcome = fs.delete_record(group, record_key(fs, group, record_id), event_time, hard=hard)
    if outcome == "newer_kept":
        click.echo(f"{record_id} in {group} stays live online: its stored version is newer than {event_time}. "
                   "Only a delete marker was added to the offline history.")
    elif outcome == "not_live":
        click.echo(f"{record_id} in {group} had no live record online; the delete marker is in the history")
    else:
        click.echo(f"{'hard' if hard else 'soft'}-deleted {record_id} in {group}")


@main.command()
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--limit", type=int, default=None, help="Return at most this many rows.")
@click.option("--timeout", type=float, default=None, help="Stop the query after this many seconds.")
@click.pass_context
def query(ctx: click.Context, sql: str, fmt: str, limit: int | None, timeout: float | None) -> None:
    """Run read-only DuckDB SQL; each feature group is a view of its full offline history."""
    df = open_store(ctx).query(sql, limit=limit, timeout=timeout)
    if fmt == "csv":
        click.echo(df.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(df.astype(object).where(df.notna(), None).to_dict("records"), default=jsonable))
    else:
        click.echo(df.to_string(index=False, max_rows=200))


@main.command()
@click.argument("entity_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-f", "--feature", "features", multiple=True, required=True, help="'group' or 'group:feature'; repeat.")
@click.option("--event-time-column", help="Entity column holding each row's time [default: guessed, e.g. event_time].")
@click.option("-k", "--key", "keys", multiple=True, help="group=entity_column when names differ; repeat.")
@click.option("--known-at", help="Use only what the store knew at this instant.")
@click.option("--name", help="Dataset name in lineage.")
@click.option("--require-coverage", type=click.FloatRange(0, 1),
              help="Fail, recording nothing, unless each group gives values to this fraction of the rows (0: one row).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False), help="Output .parquet or .csv")
@click.pass_context
def dataset(ctx: click.Context, entity_file: str, features: tuple[str, ...], event_time_column: str | None,
            keys: tuple[str, ...], known_at: str | None, name: str | None, require_coverage: float | None,
            out: str) -> None:
    """Build a point-in-time-correct training set from ENTITY_FILE and write it to --out. Keys that
    match nothing in a group are a warning on stderr."""
    import warnings

    if event_time_column is None:
        from ..ingest.infer import guess_time_column
        from ..ingest.files import read_table

        event_time_column = guess_time_column(read_table(entity_file, rows=1000))
        if event_time_column is None:
            raise click.UsageError("No column of ENTITY_FILE looks like a time; name it with --event-time-column")
    key_map = {}
    for k in keys:
        group, sep, col = k.partition("=")
        if not sep:
            raise click.UsageError(f"--key {k!r}: write it as group=column")
        key_map[group] = col
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        ds = open_store(ctx).build_dataset(entity_file, list(features), event_time_column, key_map,
                                           known_at=known_at, name=name, require_coverage=require_coverage)
    for warning in caught:  # one plain line each, not Python's file:line form
        click.echo(f"Warning: {warning.message}", err=True)
    (ds.to_csv if out.lower().endswith(".csv") else ds.to_parquet)(out)
    click.echo(f"Wrote {ds.num_rows:,} rows x {len(ds.columns)} columns to {out} (dataset {ds.id})")


@main.command()
@click.argument("group", required=False)
@click.option("--repartition", type=click.Choice(["day", "hour", "month", "none"]),
              help="Rewrite GROUP's offline files in this partition layout.")
@click.pass_context
def compact(ctx: click.Context, group: str | None, repartition: str | None) -> None:
    """Flush buffered rows, apply offline retention and merge small Parquet files into files sized
    for reading (answers inside the retained history do not change)."""
    r = open_store(ctx).compact(group, repartition=repartition)
    dropped = f", {r['rows_dropped']:,} rows past retention dropped" if r["rows_dropped"] else ""
    click.echo(f"{r['files_before']} files -> {r['files_after']} files, {r['rows']:,} rows{dropped}")


@main.command()
@click.argument("group", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def du(ctx: click.Context, group: str | None, as_json: bool) -> None:
    """Storage use per group, largest first: online and offline bytes, files, rows, the oldest
    event kept, retention and growth over the last 30 days."""
    from ..common.timeutil import us_to_iso

    rows = []
    for info in open_store(ctx).storage(group):
        g = info.pop("group")
        growth = info.pop("growth_per_day")
        rows.append({"group": g.name, "online_records": info["online_records"], "online_bytes": info["online_bytes"],
                     "offline_rows": info["offline_rows"], "offline_files": info["offline_files"],
                     "offline_bytes": info["offline_bytes"], "partition_by": g.partition_by,
                     "offline_retention_days": None if g.offline_retention_seconds is None
                     else g.offline_retention_seconds / 86400,
                     "oldest_event": us_to_iso(info["oldest_event_us"]) if info["oldest_event_us"] else None,
                     "retained_from": us_to_iso(info["retained_from_us"]) if info["retained_from_us"] else None,
                     "growth_30d_rows": sum(d["rows"] for d in growth), "growth_30d_bytes": sum(d["bytes"] for d in growth),
                     "growth_per_day": [{"day": us_to_iso(d["day_us"])[:10], "rows": d["rows"], "bytes": d["bytes"]}
                                        for d in growth]})
    if as_json:
        echo_json(rows)
        return
    header = f"{'group':<24} {'online':>10} {'offline':>10} {'files':>6} {'rows':>12} {'oldest event':<20} {'+30 days':>10}"
    click.echo(header)
    for r in rows:
        click.echo(f"{r['group']:<24} {_size(r['online_bytes']):>10} {_size(r['offline_bytes']):>10} "
                   f"{r['offline_files']:>6} {r['offline_rows']:>12,} {(r['oldest_event'] or '-')[:19]:<20} "
                   f"{_size(r['growth_30d_bytes']):>10}")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GB"


@main.command()
@click.argument("group", required=False)
@click.pass_context
def sweep(ctx: click.Context, group: str | None) -> None:
    """Remove expired online records and write their delete markers offline."""
    click.echo(f"Removed {open_store(ctx).sweep_expired(group)} expired records")


@main.command()
@click.argument("group")
@click.option("--set", "rules_file", type=click.Path(exists=True, dir_okay=False),
              help="Replace the rules with those in this YAML/JSON file (a list of rules).")
@click.option("--suggest", is_flag=True, help="Print rules a profile of the latest records suggests.")
@click.option("--import", "import_file", type=click.Path(exists=True, dir_okay=False),
              help="Add the rules of a Great Expectations suite or SageMaker constraints.json (JSON).")
@click.pass_context
def rules(ctx: click.Context, group: str, rules_file: str | None, suggest: bool, import_file: str | None) -> None:
    """Show GROUP's validation rules as JSON (or --set them from a file, --import a Great
    Expectations suite or SageMaker constraints.json, or --suggest some)."""
    fs = open_store(ctx)
    if import_file:
        result = fs.import_rules(group, import_file)
        for reason in result["skipped"]:
            click.echo(f"not imported: {reason}", err=True)
        echo_json(result["rules"])
    elif rules_file:
        data = read_spec(rules_file)
        echo_json(fs.set_rules(group, data.get("rules", data) if isinstance(data, dict) else data))
    elif suggest:
        echo_json(fs.suggest_rules(group))
    else:
        echo_json(fs.rules(group))


@main.command()
@click.argument("group")
@click.option("--since", help="Only rows quarantined at or after this time.")
@click.option("--requeue", "requeue_ids", multiple=True, type=int, help="Ingest this entry again; repeat.")
@click.option("--release", "release_ids", multiple=True, type=int, help="Drop this entry for good; repeat.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the entries to this CSV instead.")
@click.pass_context
def quarantine(ctx: click.Context, group: str, since: str | None, requeue_ids: tuple[int, ...],
               release_ids: tuple[int, ...], out: str | None) -> None:
    """List the rows GROUP's types and rules refused, requeue them after a fix, or release them."""
    fs = open_store(ctx)
    if requeue_ids:
        click.echo(fs.requeue(group, requeue_ids).summary())
        return
    if release_ids:
        click.echo(f"Released {fs.release_quarantined(group, release_ids)} quarantined rows")
        return
    frame = fs.quarantine(group, since=since)
    if out:
        frame.assign(record=frame["record"].map(json.dumps)).to_csv(out, index=False)
        click.echo(f"Wrote {len(frame):,} quarantined rows to {out}")
    else:
        click.echo(frame.drop(columns="record").to_string(index=False, max_rows=200) if len(frame)
                   else f"Nothing in the quarantine of {group}")


@main.command()
@click.argument("group")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.pass_context
def runs(ctx: click.Context, group: str, as_json: bool, limit: int) -> None:
    """Validation runs of GROUP, newest first: each ingest, and single puts per minute."""
    frame = open_store(ctx).validation_runs(group, limit=limit)
    if as_json:
        echo_json(frame.assign(started=frame["started"].astype(str)).to_dict("records"))
    else:
        click.echo(frame.drop(columns="per_rule").to_string(index=False) if len(frame) else "No validation runs yet")


@main.command()
@click.argument("group", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
@click.pass_context
def monitor(ctx: click.Context, group: str | None, as_json: bool) -> None:
    """Check every monitored group (or GROUP): late data, drift, null rates. Exit code 1 on an alert."""
    alerts = open_store(ctx).check_monitors(group)
    if as_json:
        echo_json(alerts)
    else:
        for a in alerts:
            click.echo(f"{a['status'].upper():5} {a['message']}")
        if not alerts:
            click.echo("All monitored groups are ok")
    if any(a["status"] == "alert" for a in alerts):
        ctx.exit(1)


@main.command("set-monitor")
@click.argument("group")
@click.option("--expected-interval", type=float, help="Seconds between events, past which the data is late.")
@click.option("--psi", type=float, help="Drift threshold for the population stability index.")
@click.option("--js", type=float, help="Drift threshold for the Jensen-Shannon distance.")
@click.option("--null-rate-change", type=float, help="Largest change in a feature's share of nulls.")
@click.option("--window", type=float, help="Seconds of the current window (default a day).")
@click.option("--reference-window", type=float, help="Seconds of the window before it (default 7 days).")
@click.option("--min-rows", type=int, help="Fewest rows in a window for its drift to count (default 100).")
@click.pass_context
def set_monitor(ctx: click.Context, group: str, expected_interval: float | None, psi: float | None,
                js: float | None, null_rate_change: float | None, window: float | None,
                reference_window: float | None, min_rows: int | None) -> None:
    """Monitor GROUP (only the options given change)."""
    fs = open_store(ctx)
    settings: dict[str, Any] = {k: v for k, v in (("expected_interval", expected_interval),
                                                  ("null_rate_change", null_rate_change), ("window", window),
                                                  ("reference_window", reference_window), ("min_rows", min_rows))
                                if v is not None}
    thresholds = {k: v for k, v in (("psi", psi), ("js", js)) if v is not None}
    if thresholds:
        settings["drift"] = {**fs.monitor(group).get("drift", {}), **thresholds}
    echo_json(fs.set_monitor(group, **settings))


@main.command()
@click.option("--node", help="Start node, e.g. feature_group:customers (default: whole graph).")
@click.option("--depth", type=int, help="Edges to follow from --node.")
@click.pass_context
def lineage(ctx: click.Context, node: str | None, depth: int | None) -> None:
    """Print lineage edges (source -> group -> feature -> dataset -> model)."""
    g = open_store(ctx).lineage(node, depth)
    for e in g.edges:
        click.echo(f"{e['src']} --{e['relation']}--> {e['dst']}")


@main.command()
@click.option("--port", type=int, default=8501, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--flush-interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds within which records written reach the offline Parquet files.")
@click.option("--auth", type=click.Choice(["none", "password", "oidc", "proxy"]), default="none", show_default=True,
              help="none: no sign-in, this machine only; password: the access file's users; oidc: st.login with "
                   ".streamlit/secrets.toml; proxy: a user header from --proxy-address.")
@click.option("--proxy-address", default="127.0.0.1", show_default=True, help="With --auth proxy: the proxy's IP.")
@click.option("--proxy-header", default="X-Forwarded-User", show_default=True,
              help="With --auth proxy: the header naming the user.")
@click.pass_context
def ui(ctx: click.Context, port: int, host: str, flush_interval: float, auth: str, proxy_address: str,
       proxy_header: str) -> None:
    """Start the studio in the browser on the store (seeded with sample data if empty and not shared)."""
    from ..access import published
    from ..access.policy import find

    # The studio package sits beside store/ (a checkout, or site-packages once installed).
    app = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "app",
                       "studio.py")
    if not os.path.exists(app):
        raise click.ClickException(f"The studio is not installed here ({app} is missing)")
    from ..databases.shared import folder_for

    store = folder_for(ctx.obj["store"])
    if auth == "none" and host not in ("127.0.0.1", "localhost", "::1"):
        raise click.UsageError(f"--auth none serves this machine only; to listen on {host}, sign users in with "
                               "--auth password, oidc or proxy")
    if auth == "password" and not find(store) and published.in_folder(store) is None:
        raise click.UsageError(f"--auth password needs an access file with users: {store}/access.yaml (or, for a "
                               "store others share, one published with `featurestore access publish`)")
    env = {**os.environ, "FEATURESTORE_HOME": store, "FEATURESTORE_FLUSH_INTERVAL": str(flush_interval),
           "FEATURESTORE_UI_AUTH": auth, "FEATURESTORE_UI_PROXY_ADDRESS": proxy_address,
           "FEATURESTORE_UI_PROXY_HEADER": proxy_header}
    cmd = [sys.executable, "-m", "streamlit", "run", app, "--server.port", str(port), "--server.address", host]
    click.echo(f"Studio on http://{host}:{port} for store {env['FEATURESTORE_HOME']}")
    # Become Streamlit (so stopping this process stops the studio), running from the repository
    # so Streamlit picks up .streamlit/config.toml.
    os.chdir(os.path.dirname(os.path.dirname(app)))
    os.execve(sys.executable, cmd, env)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; keep loopback unless --keys.")
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--store", "store_path", default=None, metavar="PATH|URL",
              help="Store folder or URL [default: the global --store].")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Server processes.")
@click.option("--keys", "keys_path", type=click.Path(exists=True, dir_okay=False),
              help="YAML/JSON access keys with policies; every request must then carry a valid SigV4 signature.")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log one line per request.")
@click.option("--flush-interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds within which records written reach the offline Parquet files.")
@click.option("--certfile", type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS with this certificate.")
@click.option("--keyfile", type=click.Path(exists=True, dir_okay=False), help="The certificate's private key.")
@click.option("--insecure", is_flag=True, help="Allow a non-loopback --host without TLS and keys (not advised).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, store_path: str | None, workers: int, keys_path: str | None,
          access_log: bool, flush_interval: float, certfile: str | None, keyfile: str | None, insecure: bool) -> None:
    """Serve the SageMaker Feature Store APIs (runtime and control plane) so boto3 clients work locally.

    Point clients at it with endpoint_url=http://HOST:PORT or AWS_ENDPOINT_URL_SAGEMAKER and
    AWS_ENDPOINT_URL_SAGEMAKER_FEATURESTORE_RUNTIME.
    """
    from ..server.app import serve as run

    if bool(certfile) != bool(keyfile):
        raise click.UsageError("Give --certfile and --keyfile together to serve HTTPS")
    run(store_path or ctx.obj["store"], host=host, port=port, workers=workers, keys_path=keys_path,
        access_log=access_log, echo=click.echo, flush_interval=flush_interval,
        tls=(certfile, keyfile) if certfile else None, insecure=insecure)


main.add_command(pipeline)
main.add_command(scheduler)
main.add_command(audit)
main.add_command(access)
main.add_command(encrypt)
main.add_command(rekey)
main.add_command(entities)
main.add_command(entity)
main.add_command(create_entity)
main.add_command(attach_entity)
main.add_command(services)
main.add_command(service)
main.add_command(create_service)
main.add_command(on_demand)
main.add_command(stream)
