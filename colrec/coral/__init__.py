"""CoRAL (coral.txt): collaborative evidence for the LLM, retrieved by a DDPG policy."""
