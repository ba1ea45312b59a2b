"""The `colrec-jobs` command: thin Typer commands, one module per group (db, data, cf, llm, nightly,
coral), that parse options and call each job's `run`; this module builds the app and reports errors.

Heavy imports (torch, vLLM) happen inside the jobs that need them, so `--help` is fast and needs
no database.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Annotated, NoReturn

import psycopg
import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from colrec.errors import ColrecError, Terminated
from colrec_store.config import Settings
from jobs.cli import cf, coral, data, db, llm, nightly
from jobs.common import console
from jobs.common.context import JobContext, one_line

app = typer.Typer(
    name="colrec-jobs",
    help="colrec batch jobs: ingest interactions, build collaborative and LLM outputs, publish them to Postgres.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
db_app = typer.Typer(help="The database: migrate, connect, stop the embedded server.", no_args_is_help=True)
app.add_typer(db_app, name="db")
models_app = typer.Typer(help="LLMs and encoders: prepare them under the model dir, list them.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@app.callback()
def _root(
    typer_ctx: typer.Context,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging, with the libraries' own progress and warnings.")
    ] = False,
) -> None:
    settings = Settings()
    if verbose:
        settings = settings.model_copy(update={"log_level": "DEBUG"})
    console.setup_logging(settings.log_level)
    typer_ctx.obj = JobContext(settings)


db.register(db_app)
data.register(app, models_app)
cf.register(app)
llm.register(app)
nightly.register(app)
coral.register(app)


def main() -> None:
    stop = _StopOnSignal()
    signal.signal(signal.SIGTERM, stop.raise_terminated)
    try:
        app()
    except Exception as err:
        if stop.signum is not None:  # a library may have wrapped the Terminated raised inside it
            console.fail(stop.message(), Terminated.exit_code)
        _report(err)
    except KeyboardInterrupt:
        console.err.print("interrupted")
        sys.exit(130)
    finally:
        _stop_children()


def _report(err: Exception) -> NoReturn:
    """One line for what a user can act on; anything else is a bug and keeps its traceback."""
    if isinstance(err, ColrecError):
        console.fail(str(err), err.exit_code)
    if isinstance(err, ValidationError):  # a COLREC_ setting that does not parse
        console.fail(
            "settings: "
            + "; ".join(
                f"{e['msg'].removeprefix('Value error, ')} ({'.'.join(map(str, e['loc']))})" for e in err.errors()
            )
        )
    if isinstance(err, DBAPIError | psycopg.Error):
        # Bad data the validation missed, or a server that went away mid-job: one line, the
        # traceback only at DEBUG level.
        logging.getLogger("colrec").debug("database error", exc_info=True)
        console.fail(f"database: {one_line(getattr(err, 'orig', None) or err)}")
    raise err


class _StopOnSignal:
    """SIGTERM unwinds the job as a failure (Terminated), and is remembered: code that catches and
    wraps exceptions (a template engine, a step's error report) cannot turn it into another error."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def raise_terminated(self, signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_IGN)  # one unwinding is enough; a second TERM must not cut it short
        self.signum = signum
        raise Terminated(self.message())

    def message(self) -> str:
        return f"stopped by {signal.Signals(self.signum or signal.SIGTERM).name}: nothing unfinished was published"


def _stop_children() -> None:
    """Whatever engine processes a job started and could not shut down itself (vLLM's engine core)
    end with it: a killed job leaves nothing running."""
    import multiprocessing

    for child in multiprocessing.active_children():
        child.terminate()
    for child in multiprocessing.active_children():
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
