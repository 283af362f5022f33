"""The `model-sync` command: sync sources into the catalog, normalize one recorded payload,
report the health and status of every source, export the catalog and its metrics, or price a
request (`cost`, `compare`)."""

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from model_sync.redact import redact
from model_sync.sources import SOURCES, get_source


def main(argv: list[str] | None = None) -> int:
    from model_sync import costs, disagreements, feed, overrides

    parser = argparse.ArgumentParser(prog="model-sync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sync = sub.add_parser("sync", help="sync every configured source (or the selected ones) and "
                                       "rebuild the catalog, in-process")
    sync.add_argument("--select", nargs="+", metavar="SOURCE", default=None,
                      help=f"sources to sync (default: all): {', '.join(s.name for s in SOURCES)}")
    sync.add_argument("--dry-run", action="store_true",
                      help="fetch, parse and audit without writing anything")
    sync.add_argument("--min-rows", type=int, metavar="N", default=None,
                      help="accept N or more models from every source, and N or more offerings "
                           "in the catalog, instead of the defaults (for small recordings)")
    sync.add_argument("--verbose", action="store_true",
                      help="show the runs' logs as they happen, with the tracebacks of errors")
    for kind, default in (("price", "0: any difference"), ("limit", "0.05")):
        sync.add_argument(f"--{kind}-tolerance", type=disagreements.share, metavar="SHARE",
                          help=f"{kind}s of sources this close agree (default {default})")

    record = sub.add_parser("record", help="save the live responses of sources in the replay "
                                           "layout, for MODEL_SYNC_REPLAY_DIR")
    record.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="replay directory to write <source>/<date>[...].json into")
    record.add_argument("--source", nargs="+", action="extend", metavar="NAME", default=None,
                        help="sources to record (default: all with their keys set)")

    normalize = sub.add_parser("normalize", help="print the normalized offerings of one recorded "
                                                 "payload as JSON lines")
    normalize.add_argument("source", help="source name, e.g. openrouter")
    normalize.add_argument("file", type=Path, help="a recorded response body (JSON)")
    normalize.add_argument("--as-of", help="sync date for dated price lists (default: the date "
                                           "in the file name, else today)")
    normalize.add_argument("--max-rejected-share", type=float, default=0.02, metavar="SHARE",
                           help="exit 1 when more than this share of the entries is rejected "
                                "(malformed; summarized on stderr); default 0.02")

    export = sub.add_parser("export", help="write the active catalog (or the models rollup) as "
                                           "JSON, CSV or Parquet")
    export.add_argument("--format", choices=("json", "csv", "parquet"), default="json")
    export.add_argument("--table", choices=("catalog", "models", "prices"), default="catalog",
                        help="the offerings catalog (default), the models rollup, or the price "
                             "components of the offerings (one row each)")
    export.add_argument("--out", type=Path, help="file to write (default: standard output; "
                                                 "required for parquet)")
    export.add_argument("--include-archived", action="store_true",
                        help="also export archived offerings")
    export.add_argument("--include-unlisted", action="store_true",
                        help="also export offerings that a provider's own API does not list "
                             "(known only from curated sources)")

    health = sub.add_parser("health", help="each source's last success, age, rows and recent "
                                           "failures; exits 0 healthy, 1 warning, 2 critical")
    health.add_argument("--select", nargs="+", metavar="SOURCE", default=None,
                        help="sources to report (default: all and model_catalog)")
    health.add_argument("--json", action="store_true",
                        help="print one JSON document (for monitors) instead of the table")

    feed.add_command(sub)

    metrics = sub.add_parser("metrics", help="the catalog's Prometheus metrics: printed once "
                                             "(a textfile), written to a file, or served")
    metrics.add_argument("--serve", nargs="?", const="127.0.0.1:9464", metavar="HOST:PORT",
                         help="serve /metrics until stopped (default address 127.0.0.1:9464)")
    metrics.add_argument("--out", type=Path, metavar="FILE",
                         help="write to FILE, replaced whole (node-exporter's textfile "
                              "directory, e.g. .../model_sync.prom)")

    status = sub.add_parser("status", help="per source: enabled or why not, schedule and change "
                                           "sensor on or off, last run and outcome, next tick")
    status.add_argument("--json", action="store_true", help="print one JSON document")

    costs.add_commands(sub)
    overrides.add_command(sub)
    disagreements.add_command(sub)
    args = parser.parse_args(argv)
    _load_dotenv(Path.cwd() / ".env")
    from model_sync.catalog.store import CatalogUnavailable

    try:
        if args.command == "export":
            return _export(args.format, args.table, args.out, args.include_archived,
                           args.include_unlisted)
        if args.command == "health":
            return _health(args.select, args.json)
        if args.command == "metrics":
            from model_sync import metrics as metrics_command

            return metrics_command.command(args.serve, args.out)
        if args.command == "status":
            from model_sync import status as status_command

            return status_command.command(args.json)
        if args.command == "normalize":
            from model_sync import normalize

            return normalize.normalize(args.source, args.file, args.as_of,
                                       args.max_rejected_share)
        runners = {"changes": feed.run, "disagreements": disagreements.run,
                   "overrides": overrides.run, "cost": costs.main, "compare": costs.main}
        if args.command in runners:
            return runners[args.command](args)
        if args.command == "record":
            return _record(args.out, args.source)
        tolerances = {f"{k}_tolerance": v for k in ("price", "limit")
                      if (v := getattr(args, f"{k}_tolerance")) is not None}
        return _sync(args.select, args.dry_run, args.min_rows, args.verbose, tolerances)
    except CatalogUnavailable as exc:  # unreachable, refused, read-only: one line, no traceback
        print(redact(f"model-sync: {exc}"), file=sys.stderr)
        return 2
    except BrokenPipeError:  # `model-sync changes | head`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _echo(line: str) -> None:
    """Print a progress line, which may quote an error, with its secrets masked; at once, even
    into a pipe: a sync may wait long after it."""
    print(redact(line), flush=True)


# -- export -----------------------------------------------------------------------------------


def _export(fmt: str, table: str, out: Path | None, include_archived: bool,
            include_unlisted: bool) -> int:
    from model_sync.catalog.schema import CATALOG_COLUMNS, MODEL_COLUMNS
    from model_sync.defs.resources import CatalogDatabase
    from model_sync.ops import export

    store = CatalogDatabase().store()
    try:
        if table == "models":
            rows, columns, document = store.model_rows(), MODEL_COLUMNS, export.models_document
        else:
            rows = store.catalog_rows(active_only=True, include_archived=include_archived,
                                      include_unlisted=include_unlisted)
            export.attach_prices(store, rows)
            columns, document = [*CATALOG_COLUMNS, "prices"], export.catalog_document
            if table == "prices":
                rows, columns = export.price_table(rows), export.PRICE_COLUMNS
                document = export.prices_document
    finally:
        store.dispose()
    if not rows:
        print("model-sync: the catalog is empty; run `model-sync sync` first", file=sys.stderr)
        return 1
    try:
        text = export.write(rows, columns, fmt, out, document)
    except ValueError as exc:
        print(redact(f"model-sync: {exc}"), file=sys.stderr)
        return 2
    if text is not None:
        sys.stdout.write(text)
    else:
        print(f"wrote {len(rows):,} rows to {out}", file=sys.stderr)
    return 0


# -- sync --------------------------------------------------------------------------------------


def _sync(select: list[str] | None, dry_run: bool, min_rows: int | None = None,
          verbose: bool = False, tolerances: dict[str, float] | None = None) -> int:
    from model_sync.defs.interrupts import StopSignals
    from model_sync.sync import SettingsError, run_sync

    try:
        names = [get_source(n).name for n in select] if select else None
    except KeyError as exc:
        print(redact(f"model-sync: {exc.args[0]}"), file=sys.stderr)
        return 2
    started = time.monotonic()
    with StopSignals() as stop:
        try:
            # Quiet unless asked: the report below has one line per asset; the runs' own logs
            # (and the tracebacks of expected failures) are for --verbose and the UI.
            report = run_sync(names, dry_run=dry_run, echo=_echo, min_rows=min_rows,
                              log_level="INFO" if verbose else "CRITICAL",
                              tolerances=tolerances)
        except KeyboardInterrupt:
            print("interrupted: the previous rows are kept", flush=True)
            return 128 + (stop.received() or signal.SIGINT)
        except SettingsError as exc:
            print(redact(f"model-sync: {exc}"), file=sys.stderr)
            return 2
        except Exception as exc:
            if verbose:
                raise
            print(redact(f"model-sync: sync failed: {type(exc).__name__}: {exc} (run with "
                         "--verbose for the traceback)"), file=sys.stderr)
            return 1
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    print(redact(report.render(width)))  # its notes quote the failures
    if not dry_run:
        from model_sync.metrics import push_metrics

        pushed = push_metrics()  # None unless MODEL_SYNC_PUSHGATEWAY_URL is set
        if pushed:
            print(pushed, file=sys.stderr if pushed.startswith("metrics not") else sys.stdout)
    home = os.environ.get("DAGSTER_HOME")
    print(f"\nfinished in {time.monotonic() - started:.1f}s; catalog: {report.database}"
          + (f"; Dagster instance: {home}" if home else ""))
    return report.exit_code


# -- record ------------------------------------------------------------------------------------


def _record(out: Path, select: list[str] | None) -> int:
    from model_sync.record import record

    try:
        names = [get_source(n).name for n in select] if select else None
        failed = record(out, names, echo=_echo)
    except (KeyError, ValueError) as exc:
        print(redact(f"model-sync: {exc.args[0]}"), file=sys.stderr)
        return 2
    return 1 if failed else 0


# -- health ------------------------------------------------------------------------------------


def _health(select: list[str] | None, as_json: bool = False) -> int:
    from model_sync.cadence import CadenceError, health_windows, resolve_cadences
    from model_sync.defs.resources import CatalogDatabase, HttpClientResource
    from model_sync.ops.health import (
        CATALOG,
        exit_code,
        health_report,
        render,
        report_json,
        skips,
    )

    try:
        names = [n if n == CATALOG else get_source(n).name for n in select] if select else None
        windows = health_windows(resolve_cadences(SOURCES))
    except (KeyError, CadenceError) as exc:
        print(redact(f"model-sync: {exc.args[0]}"), file=sys.stderr)
        return 2
    if names:
        windows = {n: w for n, w in windows.items() if n in names}
    try:
        skipped = skips(HttpClientResource(), SOURCES, here=True)
    except (FileNotFoundError, ValueError) as exc:  # a bad replay directory or date
        print(f"model-sync: {exc}", file=sys.stderr)
        return 2
    store = CatalogDatabase().store()
    try:
        report = health_report(store, windows, skipped=skipped)
    finally:
        store.dispose()
    # It quotes the last errors in sync_runs, which may predate redaction.
    print(redact(json.dumps(report_json(report), indent=2) if as_json else render(report)))
    return exit_code(report)


# -- environment -------------------------------------------------------------------------------


def _load_dotenv(path: Path) -> None:
    """The variables of `.env` in the working directory, read as `dagster dev` and the code
    server read them; a variable already set in the environment keeps its value."""
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path) if path.is_file() else {}
    except (OSError, ValueError) as exc:
        print(f"model-sync: {path} not read: {exc}", file=sys.stderr)
        return
    for name, value in values.items():
        if value is not None:
            os.environ.setdefault(name, value)


if __name__ == "__main__":
    sys.exit(main())
