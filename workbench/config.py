"""The one `Settings` class read by the API, the workers, migrations, the CLI and the tests.

Every field can be set by an environment variable `WORKBENCH_<FIELD>` (or a `.env` file); see docs/settings.md.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", env_file=".env", extra="ignore")

    data_dir: Path = Field(REPO_ROOT / ".data", description="Embedded stack state: SQLite, Temporal, logs")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite in data_dir. PostgreSQL: postgresql+psycopg://..."
    )
    database_pool_size: int = Field(
        20, ge=1, le=500, description="Database connections each API or worker process keeps open; the API also "
                                      "runs at most this many blocking handlers at once")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = Field("workbench", description="Prefix of the task queues: <prefix>-reports, -notebooks, ...")
    temporal_ui_port: int = 8233
    temporal_api_key: SecretStr | None = Field(None, description="API key for Temporal Cloud (implies TLS)")
    temporal_tls: bool = Field(False, description="Connect to Temporal over TLS (with the system's CAs by default)")
    temporal_tls_ca_path: Path | None = Field(None, description="CA bundle that signs the Temporal server's cert")
    temporal_tls_cert_path: Path | None = Field(None, description="Client certificate for mutual TLS")
    temporal_tls_key_path: Path | None = Field(None, description="Client private key for mutual TLS")
    temporal_tls_server_name: str | None = Field(None, description="Server name to verify, if not the host")

    trusted_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "::1"],
        description='Host headers the API answers (JSON list; "*.example.com" wildcards; public_base_url\'s host is '
                    "added); any other gets 400, so a page on another site cannot read the API through DNS "
                    'rebinding. ["*"] turns the check off')
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins whose pages may call the API from a browser (JSON list); none by "
                                          "default")
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = Field(
        1, ge=1, le=64, description="Processes `workbench api` serves the port with (each with its own caches and "
                                    "rate-limit share, as replicas)")
    public_base_url: str | None = Field(None, description="Base of links in notifications; default from host/port")
    api_key_cache_seconds: float = Field(
        2.0, ge=0, description="How long an API process trusts a key it has looked up (a revocation made through "
                               "another process takes this long to reach it; 0: look up every request)")
    api_cache_mb: int = Field(
        64, ge=0, description="Memory per API process for finished reports' JSON bodies, kept by ETag (0: none)")

    notebooks_dir: Path = REPO_ROOT / "notebooks"
    kernel_name: str = "workbench"
    cell_timeout_seconds: int = Field(600, ge=1, description="Longest a single notebook cell may run")
    component_timeout_seconds: int = Field(1800, ge=1, description="Longest one component activity may run")
    heartbeat_timeout_seconds: int = Field(30, ge=2, description="A worker silent this long is presumed dead")
    worker_graceful_shutdown_seconds: int = Field(
        30, ge=0, description="On SIGTERM a worker stops polling and gives running activities this long to finish; "
                              "then they are cancelled (their kernels ended) and retried on another worker")
    max_concurrent_activities: int = Field(4, ge=1, description="Notebooks one worker runs at once (notebooks queue)")
    ai_concurrent_activities: int = Field(2, ge=1, description="Model-calling components one worker runs at once")
    reports_concurrent_activities: int = Field(16, ge=1, description="Bookkeeping steps one worker runs at once")
    max_component_attempts: int = Field(3, ge=1, description="Tries per component when the kernel or worker dies")
    infrastructure_retry_seconds: int = Field(
        600, ge=10, description="How long a step keeps retrying while the database or a worker is unavailable"
    )
    worker_health_port: int | None = Field(
        None, ge=0, le=65535, description="Port of a worker's /health/live, /health/ready and /metrics; None: off")
    worker_health_host: str = Field("127.0.0.1", description="Address the worker's health endpoint listens on")
    temporal_metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Port of the Temporal SDK's own Prometheus /metrics (temporal_*) of a "
                                          "worker or the API, on worker_health_host; None: off")
    kernel_memory_limit_mb: int | None = Field(
        4096, ge=64, description="Address-space limit of each notebook kernel (and what it starts); None: unlimited"
    )
    worker_memory_budget_mb: int | None = Field(
        None, ge=64, description="Memory the running notebook kernels of one worker may take together, by their "
                                 "components' estimates for the report's size: a component waits (first come, "
                                 "first served) until it fits, and runs alone if larger; None: no admission by memory")
    kernel_threads: int | None = Field(
        None, ge=1, le=256, description="Threads of each kernel's native thread pools (OpenMP, BLAS); None: the "
                                        "usable cores divided by max_concurrent_activities, at least 1")
    kernel_pool_size: int = Field(
        0, ge=0, le=16, description="Kernels a notebooks worker keeps started and warmed, each for one run; 0: off")
    kernel_pool_fork: bool = Field(
        True, description="Pool kernels are forks of one warm template process (Linux 5.3+), not new processes")
    kernel_warm_imports: str = Field(
        "numpy,pandas,matplotlib,matplotlib.pyplot,scipy.stats,scipy.cluster.hierarchy,pyarrow.parquet,"
        "vaderSentiment.vaderSentiment,sklearn,sklearn.cluster,pydantic,IPython.display,"
        "workbench.notebook,workbench.analysis.stats,workbench.analysis.sentiment,workbench.analysis.themes,"
        "workbench.analysis.segment_report,workbench.analysis.charts,workbench.analysis.summary,"
        "workbench.text.embeddings,workbench.text.llm",
        description="Modules a pool kernel imports while it waits (comma-separated)")
    sweep_interval_seconds: int = Field(
        30, ge=1, description="How often a worker starts stranded reports and removes what dead workers left"
    )

    openai_api_key: SecretStr | None = Field(
        None, description="Key for OpenAI-compatible engines; reaches kernels as an environment variable only"
    )
    openai_base_url: str | None = Field(
        None, description="Base URL of an OpenAI-compatible server (vLLM, llama.cpp, Ollama); None: OpenAI's API"
    )
    openai_model: str = Field("gpt-4o-mini", description="Model the OpenAI-compatible engines ask")
    openai_timeout_seconds: float = Field(60.0, gt=0, description="Longest one model request may take")
    openai_max_retries: int = Field(3, ge=0, description="Retries (with backoff) on 429, 5xx and timeouts")
    openai_token_budget: int | None = Field(
        200_000, ge=1, description="Most tokens one report may spend on model calls; None: unlimited"
    )
    openai_batch_size: int = Field(20, ge=1, le=200, description="Answers sent to the model in one request")

    webhook_allowed_hosts: list[str] = Field(
        default_factory=list, description="Webhook hosts (name, name:port or network) allowed although not public, "
                                          'e.g. ["127.0.0.0/8"] for local development; JSON list')
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="Longest a webhook delivery attempt may take")
    webhook_max_response_bytes: int = Field(64 * 1024, ge=0, description="Most of a webhook answer that is read")
    webhook_retry_initial_seconds: float = Field(5.0, gt=0, description="First pause before retrying a delivery")
    webhook_retry_hours: float = Field(24.0, gt=0, description="How long a delivery is retried before it fails")
    webhook_disable_after: int = Field(5, ge=1, description="Failed deliveries in a row that disable an endpoint")
    webhook_receiver_secret: SecretStr | None = Field(
        None, description="Secret (whsec_...) of POST /api/webhooks/report-completed; unset: that endpoint is off")

    chromium_path: str | None = Field(None, description="Browser for PDFs; default /usr/bin/chromium or PATH")
    render_pdf_when_finished: bool = Field(
        False, description="Workers render and store a finished report's PDF, so even the first download is instant"
    )
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    background_import_bytes: int = Field(
        2 * 1024 * 1024, ge=0, description="Uploads larger than this are imported as a background job (202)"
    )

    bootstrap_admin_key: SecretStr | None = Field(
        None, description="An admin key (wb_<10 hex>_<secret>) of the default organization that the API stores at "
                          "start if it is new: the first key of a deployment (a secret); scripts/up sets one")
    session_hours: float = Field(12.0, gt=0, description="How long a web sign-in lasts")
    rate_limit: str = Field(
        "600/minute", description='Requests one API key (or one address without a key) may make, in the `limits` '
                                  'notation ("600/minute", "20/second;600/minute"); "" turns limiting off')
    max_active_reports: int | None = Field(
        20, ge=1, description="Reports one organization may have queued or running at once; None: unlimited")
    share_link_max_days: int = Field(90, ge=1, description="Longest a share link may stay valid")

    @field_validator("openai_base_url", "openai_token_budget", "kernel_memory_limit_mb", "max_active_reports",
                     "worker_memory_budget_mb", "kernel_threads",
                     "bootstrap_admin_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """`WORKBENCH_OPENAI_TOKEN_BUDGET=` (empty) means unlimited (so do an empty kernel memory limit and
        report cap); an empty base URL means OpenAI's."""
        return None if isinstance(value, str) and value.strip().lower() in ("", "none") else value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'workbench.db').resolve()}"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
