"""SCORE's retrieval path (score.txt, section 3): behaviour texts, the collaborative retriever (CAR),
the LLM self-assessment ranking and the self-assessing reranker (SARE). Model code only: no DB, no CLI."""
