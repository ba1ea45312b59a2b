"""The LLM work of the jobs: one cached engine per job (`work.CachedLLM`) and the executors that run
its prompts, in this process or over a Ray cluster (`ray_executor`)."""
