"""Queries, one module per area. Functions take a Session; the calling job owns the transaction."""
