"""Settings: one pydantic-settings object, read from the environment (prefix COLREC_) and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "colrec"


class Settings(BaseSettings):
    """Everything configurable about colrec. Build it once at the entry point and pass it down."""

    model_config = SettingsConfigDict(env_prefix="COLREC_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("COLREC_DATABASE_URL", "DATABASE_URL"),
        description="Postgres URL. Unset: an embedded Postgres is started under data_dir/pg.",
    )
    source_url: str | None = Field(
        default=None,
        description="The Postgres that `ingest --sql` reads (a team's application database); unset: colrec's "
        "own store. Kept in the environment so its password never enters a plan or a run record.",
    )
    data_dir: Path = Field(default_factory=_default_data_dir, description="Embedded Postgres, caches.")
    model_dir: Path | None = Field(default=None, description="Model artifacts; default data_dir/models.")
    demo_data: Path | None = Field(default=None, description="Local copy of MovieLens-100K for the demo.")
    demo_url: str = Field(
        default="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        description="Where the demo downloads MovieLens-100K from (a mirror must serve the same file).",
    )
    log_level: str = "INFO"
    llm_backend: str = Field(
        default="auto",
        description="auto (per batch of work, the back end that finishes soonest, start-up included, from the "
        "rates measured on this machine), vllm or transformers.",
    )
    llm_model: str = Field(default="smollm2-135m-instruct", description="Catalogue name or a model folder.")
    allow_untitled: bool = Field(
        default=False,
        description="Run LLM steps on a dataset whose items are mostly without title or description "
        "(refused otherwise: the prompts would all look alike).",
    )
    llm_dtype: str = Field(
        default="auto",
        description="auto (bfloat16 on a GPU or a CPU that computes it natively, AVX512-BF16 or AMX; float32 "
        "otherwise), float32, bfloat16 or float16.",
    )
    retriever_model: str = Field(
        default="all-minilm-l6-v2",
        description="SCORE's CAR base encoder: catalogue name or folder (production: all-mpnet-base-v2).",
    )
    text_encoder: str = Field(
        default="all-minilm-l6-v2",
        description="Sentence encoder of profile and item-text embeddings (production: all-mpnet-base-v2).",
    )
    reranker_model: str = Field(
        default="all-minilm-l6-v2",
        description="SCORE's SARE base: a cross-encoder, or an encoder that gets a new head (production: "
        "bge-reranker-large).",
    )
    serve_method: str = Field(
        default="auto",
        description="What serving_recommendations serves: auto (the method with the best prospective NDCG@10 "
        "over the last nights, the first CF method until there is evidence) or a method name (mf, llm, ...).",
    )
    vllm_memory_share: float = Field(default=0.3, description="vLLM gpu_memory_utilization (on CPU: share of RAM).")
    vllm_tensor_parallel: int = Field(default=1, ge=1, description="GPUs one vLLM engine spans (big models).")
    train_max_interactions: int | None = Field(
        default=None, ge=1, description="CF models fit on the newest this many training interactions (None: all)."
    )
    executor: Literal["local", "ray"] = Field(
        default="local",
        description="Where profile, rationale, retrieve and score run their LLM prompts: local (the engine "
        "in this process) or ray (engine replicas on the Ray cluster at RAY_ADDRESS; a local one when unset).",
    )
    ray_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("COLREC_RAY_ADDRESS", "RAY_ADDRESS"),
        description="The Ray cluster of the ray executor (host:port or ray://...). Unset: a local instance.",
    )
    ray_replicas: int = Field(default=2, ge=1, description="Engine replicas (Ray actors) of the ray executor.")
    ray_partition_size: int = Field(
        default=512, ge=1, description="Prompts per partition: the unit a replica reads, runs and commits."
    )
    ray_cpus_per_replica: float = Field(default=1.0, gt=0, description="CPUs Ray reserves for each replica.")
    ray_gpus_per_replica: float = Field(
        default=0.0, ge=0, description="GPUs Ray reserves for each replica (on a GPU cluster: vllm_tensor_parallel)."
    )
    ray_retries: int = Field(
        default=3, ge=0, description="Restarts of a dead replica, and retries of its partition, before the job fails."
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, url: str | None) -> str | None:
        """Accept the libpq spellings users copy from elsewhere; SQLAlchemy needs the psycopg driver named."""
        if not url:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                url = "postgresql+psycopg://" + url[len(prefix) :]
        try:  # never echoed: a URL may hold a password
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError(
                "DATABASE_URL is not a database URL: use postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            ) from None
        if parsed.get_backend_name() != "postgresql":
            raise ValueError(f"DATABASE_URL names a {parsed.get_backend_name()!r} database: colrec needs PostgreSQL")
        return url

    @field_validator("llm_backend")
    @classmethod
    def _known_backend(cls, backend: str) -> str:
        if backend not in ("auto", "vllm", "transformers"):
            raise ValueError(f"COLREC_LLM_BACKEND={backend!r}: use auto, vllm or transformers")
        return backend

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, level: str) -> str:
        return level.upper()

    @property
    def models_path(self) -> Path:
        return self.model_dir or self.data_dir / "models"

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "pg"
