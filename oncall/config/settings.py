"""Process settings: ``oncall.toml`` in the configuration directory, overridden by ``ONCALL_*``.

Precedence (first wins): explicit arguments, environment (``ONCALL_TWILIO__AUTH_TOKEN``…),
secret files (``$CREDENTIALS_DIRECTORY``, systemd ``LoadCredential=``), ``oncall.toml``.
Secrets are :class:`SecretStr`: their repr is ``'**********'`` so they never reach a log.
"""

from __future__ import annotations

import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from oncall.config.console_settings import ConsoleSettings
from oncall.config.http_settings import HttpSettings
from oncall.errors import ConfigError, ConfigIssue
from oncall.notify.chat import ChatSettings
from oncall.notify.settings import SmtpSettings, TwilioSettings
from oncall.sources.settings import SourceSettings

DEFAULT_CONFIG_DIR = Path("schedules")
DEFAULT_DATABASE_URL = "sqlite:///var/oncall.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ONCALL_",
        env_nested_delimiter="__",
        extra="forbid",
        secrets_dir=os.environ.get("CREDENTIALS_DIRECTORY") or None,
    )
    _toml_path: ClassVar[Path | None] = None

    config: Path = DEFAULT_CONFIG_DIR
    database_url: str = DEFAULT_DATABASE_URL
    listen: str = "127.0.0.1:8080"
    public_url: str | None = None
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    log_level: str = "info"
    coverage_horizon_days: int = Field(default=28, ge=1, le=3650)
    deadman_url: str | None = None
    handoff_notices: bool = True
    handoff_notice_minutes: int = Field(default=60, ge=0)
    api_token: SecretStr | None = None  # bearer token for the HTTP API and calendar-feed links
    # How often each of the daemon's duties runs (oncall/daemon/duties), and the drain's budget.
    engine_tick_seconds: float = Field(default=15.0, gt=0)
    reload_check_seconds: float = Field(default=5.0, gt=0)
    writeback_seconds: float = Field(default=10.0, gt=0)
    handoff_check_seconds: float = Field(default=60.0, gt=0)
    handover_check_seconds: float = Field(default=30.0, gt=0)
    response_clock_seconds: float = Field(default=60.0, gt=0)
    silence_check_seconds: float = Field(default=60.0, gt=0)
    deadman_seconds: float = Field(default=60.0, gt=0)
    selfcheck_seconds: float = Field(default=60.0, gt=0)
    shutdown_budget_seconds: float = Field(default=8.0, gt=0)
    # Several instances: how long a singleton duty may stay undone when the instance running
    # it dies, freezes or loses the database (its lease lasts 3/4 of this, renewed every 1/4).
    failover_seconds: float = Field(default=15.0, ge=1)
    # `oncall run`: how long its worker child may go without proving progress (its event loop
    # turning, its engine's runs completing database statements) before the web process kills
    # and replaces it. Above the engine's 5 s claim renewals; keep it below failover_seconds.
    worker_stall_seconds: float = Field(default=10.0, ge=6, le=300)
    # What `oncall run` starts: all (the web server here, the worker in a child it supervises),
    # web, or worker.
    role: str = Field(default="all", pattern="^(all|web|worker)$")
    twilio: TwilioSettings = TwilioSettings()
    smtp: SmtpSettings = SmtpSettings()
    chat: ChatSettings = ChatSettings()
    http: HttpSettings = HttpSettings()
    console: ConsoleSettings = ConsoleSettings()
    sources: dict[str, SourceSettings] = Field(default_factory=dict)

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"listen must be host:port, got {v!r}")
        return v

    @field_validator("sources")
    @classmethod
    def _source_names(cls, v: dict[str, SourceSettings]) -> dict[str, SourceSettings]:
        return {k.lower(): s for k, s in v.items()}

    @property
    def failover(self) -> timedelta:
        return timedelta(seconds=self.failover_seconds)

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def listen_port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # One file per setting, named as its variable (ONCALL_CHAT__WEBHOOKS__OPS__URL), as systemd's
        # LoadCredential= names them; a file named for a whole section (oncall_chat) holds its JSON.
        secrets = NestedSecretsSettingsSource(file_secret_settings, secrets_nested_delimiter="__",
                                              secrets_dir_missing="ok")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, secrets]
        if cls._toml_path is not None and cls._toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path))
        return tuple(sources)


def config_dir_from(cli_value: Path | None) -> Path:
    """The configuration directory: ``--config``, else ``ONCALL_CONFIG``, else ``./schedules``."""
    if cli_value is not None:
        return cli_value
    env = os.environ.get("ONCALL_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG_DIR


def load_settings(config_dir: Path | None = None, **overrides: Any) -> Settings:
    """Build settings for ``config_dir`` (reads its ``oncall.toml``). Raises ConfigError."""
    directory = config_dir_from(config_dir)
    toml_path = directory / "oncall.toml"
    Settings._toml_path = toml_path
    try:
        if config_dir is not None:
            overrides.setdefault("config", directory)
        return Settings(**overrides)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            env_name = "ONCALL_" + "__".join(str(p).upper() for p in err["loc"])
            issues.append(ConfigIssue(
                file=f"{toml_path} or environment ({env_name})",
                message=f"setting {loc}: {str(err['msg']).removeprefix('Value error, ')}",
            ))
        raise ConfigError(issues) from None
    except Exception as exc:  # tomllib errors and friends: name the file, never a traceback
        raise ConfigError([ConfigIssue(file=str(toml_path), message=f"cannot read settings: {exc}")]) from None
    finally:
        Settings._toml_path = None


def database_origin(settings: Settings) -> str:
    """Where ``settings.database_url`` came from, said for an error message."""
    toml_path = (settings.config / "oncall.toml").absolute()
    if os.environ.get("ONCALL_DATABASE_URL"):
        return "from ONCALL_DATABASE_URL"
    secrets_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if secrets_dir and (Path(secrets_dir) / "ONCALL_DATABASE_URL").is_file():
        return f"from {secrets_dir}/ONCALL_DATABASE_URL"
    try:
        with toml_path.open("rb") as fh:
            if "database_url" in tomllib.load(fh):
                return f"from database_url in {toml_path}"
    except (OSError, tomllib.TOMLDecodeError):
        pass
    return f"the default: ONCALL_DATABASE_URL is not set and {toml_path} sets no database_url"
