"""Fine-tuning recipes on peft + trl (no hand-written training loops): model code only, no DB, no CLI."""
