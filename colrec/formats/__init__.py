"""Parsers that turn dataset files into a validated `Batch` (see base.py); one module per family."""

from colrec.formats.base import Batch
from colrec.formats.registry import FORMATS, parse

__all__ = ["FORMATS", "Batch", "parse"]
