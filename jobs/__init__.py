"""colrec-jobs: one module per job, each a plain `run(ctx, ...)` plus a thin Typer command (cli.py)."""
