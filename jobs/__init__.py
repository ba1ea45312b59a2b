"""colrec-jobs: one module per command, each a plain `run(ctx, ...)`; the thin Typer layer in cli/,
what the commands share in common/, the LLM cache and executors in llm/."""
