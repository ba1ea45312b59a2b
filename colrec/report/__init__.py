"""The HTML report: plain data in, one self-contained page out (inline SVG, no external assets)."""
