"""colrec: the domain code, free of CLI and database: data formats, models, LLM engine, training."""
