"""A tiny random chat model built on the fly (no hub): a BPE tokenizer trained on a few sentences
with ChatML special tokens and template, and a 2-layer Llama with head size 64 (vLLM supports 64)."""

from __future__ import annotations

from pathlib import Path

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The user has highly rated the following movies. Respond with either Yes or No.",
    "Yes No yes no Alpha Beta Gamma Delta movie item user liked disliked profile history think",
    "Whether the user will like the target item? Answer Yes or No. Similar users interacted with.",
] * 20


def build_tiny_model(target: Path, seed: int = 0, fluent: bool = False, heads: int = 2, kv_heads: int = 2,
                     layers: int = 2) -> Path:  # fmt: skip
    """fluent=False: random weights (Yes/No probabilities vary with the whole prompt).
    fluent=True: the blocks are zeroed so the hidden state is the current token's embedding, and
    the output head is a Markov chain over word tokens: greedy decoding always writes words (for
    jobs whose parsers want text), still through the real generation code."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    core.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        bos_token=None, unk_token=None)  # fmt: skip
    tokenizer.add_tokens(["Yes", "No"])  # single tokens, as in real chat models
    tokenizer.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=64, max_position_embeddings=4096, tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # random but not tiny logits, so Yes/No probabilities spread out
        model.lm_head.weight.normal_(std=0.5)
        if fluent:
            _make_fluent(model, tokenizer)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return target


def _make_fluent(model, tokenizer) -> None:  # type: ignore[no-untyped-def]
    import torch

    vocab = tokenizer.get_vocab()
    words = sorted(i for token, i in vocab.items() if token.startswith("Ġ") and token[1:].isalpha())
    for layer in model.model.layers:
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
    embed = model.model.embed_tokens.weight
    dim = embed.shape[1]
    boost = torch.zeros(dim)
    boost[0] = 1.0
    embed.normal_()
    embed[:, 0] = 3.0  # a shared direction: every hidden state points a little along it
    head = model.lm_head.weight
    head.normal_(std=0.01)
    for k, word in enumerate(words):  # token -> next word in a cycle; any token -> some word
        head[words[(k + 1) % len(words)]] = 5 * embed[word] * (torch.arange(dim) > 0) + 3 * boost
