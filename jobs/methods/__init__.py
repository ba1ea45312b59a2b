"""The scoring methods of `score` and what `evaluate` reads back: the method names here; SCORE's
prompt with its evidence (score_prompts), CoRAL's world (coral), the CF + LLM stack (hybrid) and the
tuned LLMs that finetune runs made (tuned) in the modules beside."""

PROMPTED = ("llm", "score", "coral", "coral-random", "coral-none")  # one Yes/No prompt per pair
CORAL = PROMPTED[2:]
HYBRID = ("hybrid", "hybrid-no-llm")  # stacks over runs already made
TUNED = tuple(f"{m}-{t}" for t in ("lora", "full") for m in PROMPTED)  # a finetune run's model served
SCORED = (*PROMPTED, *TUNED, *HYBRID)  # what predictions hold
