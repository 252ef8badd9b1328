"""Configuration from the environment: what a user typing variables into a host config sees."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from support import CANARY_KEY

from pd_mcp.errors import ConfigError
from pd_mcp.settings import DEFAULT_API_URL, ApiConfig, Settings, load


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The two required variables set; each test adds or removes the rest."""
    monkeypatch.setenv("POWERDRILL_USER_ID", "user-42")
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", CANARY_KEY)
    return monkeypatch


def resolve() -> ApiConfig:
    return load().resolve()


def config_error() -> str:
    with pytest.raises(ConfigError) as info:
        resolve()
    return info.value.message


# --- required variables ----------------------------------------------------------------


def test_both_required_variables_missing_are_both_named() -> None:
    text = config_error()
    assert "POWERDRILL_USER_ID" in text
    assert "POWERDRILL_PROJECT_API_KEY" in text


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ("POWERDRILL_USER_ID", "POWERDRILL_PROJECT_API_KEY"),
        ("POWERDRILL_PROJECT_API_KEY", "POWERDRILL_USER_ID"),
    ],
)
def test_one_missing_variable_is_named_and_only_that_one(
    monkeypatch: pytest.MonkeyPatch, present: str, missing: str
) -> None:
    monkeypatch.setenv(present, CANARY_KEY if present.endswith("KEY") else "user-42")
    text = config_error()
    assert missing in text
    assert f"{present} is not set" not in text


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_values_count_as_missing(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    monkeypatch.setenv("POWERDRILL_USER_ID", blank)
    monkeypatch.setenv("POWERDRILL_PROJECT_API_KEY", blank)
    text = config_error()
    assert "POWERDRILL_USER_ID" in text
    assert "POWERDRILL_PROJECT_API_KEY" in text


def test_reading_the_environment_never_fails_without_credentials() -> None:
    # The server must start and list its tools before it is configured.
    settings = load()
    assert settings.user_id is None
    assert settings.api_key is None


def test_complete_environment_resolves_to_defaults(env: pytest.MonkeyPatch) -> None:
    config = resolve()
    assert config.base_url == DEFAULT_API_URL == "https://ai.data.cloud/api"
    assert config.api_version == "v2"
    assert config.user_id == "user-42"
    assert config.api_key.get_secret_value() == CANARY_KEY


def test_values_are_trimmed(env: pytest.MonkeyPatch) -> None:
    env.setenv("POWERDRILL_USER_ID", "  user-42\n")
    env.setenv("POWERDRILL_PROJECT_API_KEY", f" {CANARY_KEY} ")
    config = resolve()
    assert config.user_id == "user-42"
    assert config.api_key.get_secret_value() == CANARY_KEY


# --- POWERDRILL_API_URL and POWERDRILL_API_VERSION ----------------------------------------


@pytest.mark.parametrize(
    ("url", "base", "version"),
    [
        ("https://pd.test/api/v1/team", "https://pd.test/api", "v1"),
        ("https://pd.test/api/v1/team/", "https://pd.test/api", "v1"),
        ("https://pd.test/api/v2/team", "https://pd.test/api", "v2"),
        ("https://pd.test/api/v2/team/", "https://pd.test/api", "v2"),
        ("https://ai.data.cloud/api/v1/team", "https://ai.data.cloud/api", "v1"),
        ("https://pd.test/api", "https://pd.test/api", "v2"),
        ("https://pd.test/api/", "https://pd.test/api", "v2"),
        ("http://127.0.0.1:8765/api", "http://127.0.0.1:8765/api", "v2"),
        ("  https://pd.test/api  ", "https://pd.test/api", "v2"),
    ],
)
def test_url_suffix_is_stripped_and_selects_the_version(
    env: pytest.MonkeyPatch, url: str, base: str, version: str
) -> None:
    env.setenv("POWERDRILL_API_URL", url)
    config = resolve()
    assert config.base_url == base
    assert config.api_version == version


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_url_means_the_default(env: pytest.MonkeyPatch, blank: str) -> None:
    env.setenv("POWERDRILL_API_URL", blank)
    assert resolve().base_url == DEFAULT_API_URL


@pytest.mark.parametrize(("raw", "version"), [("v1", "v1"), ("v2", "v2"), ("V1", "v1"), (" v2 ", "v2")])
def test_explicit_version(env: pytest.MonkeyPatch, raw: str, version: str) -> None:
    env.setenv("POWERDRILL_API_VERSION", raw)
    assert resolve().api_version == version


@pytest.mark.parametrize(
    ("url", "version"),
    [
        ("https://pd.test/api/v1/team", "v1"),
        ("https://pd.test/api/v2/team/", "v2"),
    ],
)
def test_explicit_version_agreeing_with_the_suffix_is_fine(
    env: pytest.MonkeyPatch, url: str, version: str
) -> None:
    env.setenv("POWERDRILL_API_URL", url)
    env.setenv("POWERDRILL_API_VERSION", version)
    config = resolve()
    assert (config.base_url, config.api_version) == ("https://pd.test/api", version)


@pytest.mark.parametrize(
    ("url", "version"),
    [
        ("https://pd.test/api/v1/team", "v2"),
        ("https://pd.test/api/v2/team", "v1"),
        ("https://pd.test/api/v2/team/", "V1"),
    ],
)
def test_version_contradicting_the_suffix_is_a_config_error(
    env: pytest.MonkeyPatch, url: str, version: str
) -> None:
    env.setenv("POWERDRILL_API_URL", url)
    env.setenv("POWERDRILL_API_VERSION", version)
    text = config_error()
    assert "POWERDRILL_API_VERSION" in text
    assert "POWERDRILL_API_URL" in text


@pytest.mark.parametrize("bad", ["v3", "2", "latest", "v2.1"])
def test_bad_version_value_is_a_config_error_naming_it(env: pytest.MonkeyPatch, bad: str) -> None:
    env.setenv("POWERDRILL_API_VERSION", bad)
    text = config_error()
    assert "POWERDRILL_API_VERSION" in text
    assert repr(bad) in text


@pytest.mark.parametrize(
    "bad",
    [
        "not a url",
        "ai.data.cloud/api",
        "ftp://pd.test/api",
        "https://",
        "https://pd.test/api?x=1",
        "https://pd.test/api#frag",
        "https://someone:secret@pd.test/api",
    ],
)
def test_bad_url_is_a_config_error_naming_the_variable(env: pytest.MonkeyPatch, bad: str) -> None:
    env.setenv("POWERDRILL_API_URL", bad)
    text = config_error()
    assert "POWERDRILL_API_URL" in text


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERDRILL_API_URL", "ftp://nowhere")
    monkeypatch.setenv("POWERDRILL_API_VERSION", "v9")
    text = config_error()
    for name in (
        "POWERDRILL_USER_ID",
        "POWERDRILL_PROJECT_API_KEY",
        "POWERDRILL_API_URL",
        "POWERDRILL_API_VERSION",
    ):
        assert name in text


def test_config_errors_never_show_the_key(env: pytest.MonkeyPatch) -> None:
    env.delenv("POWERDRILL_USER_ID")
    env.setenv("POWERDRILL_API_URL", "ftp://nowhere")
    env.setenv("POWERDRILL_API_VERSION", "v9")
    assert CANARY_KEY not in config_error()


# --- the key stays secret -----------------------------------------------------------------


def test_key_is_a_secret_in_settings(env: pytest.MonkeyPatch) -> None:
    settings = load()
    assert isinstance(settings.api_key, SecretStr)
    assert CANARY_KEY not in repr(settings)
    assert CANARY_KEY not in str(settings)
    assert CANARY_KEY not in repr(settings.model_dump())


def test_key_is_a_secret_in_the_resolved_config(env: pytest.MonkeyPatch) -> None:
    config = resolve()
    assert isinstance(config.api_key, SecretStr)
    assert CANARY_KEY not in repr(config)
    assert CANARY_KEY not in str(config)
    assert CANARY_KEY not in f"{config}"


def test_settings_read_the_environment_when_asked_not_at_import(env: pytest.MonkeyPatch) -> None:
    env.setenv("POWERDRILL_USER_ID", "first")
    assert Settings().resolve().user_id == "first"
    env.setenv("POWERDRILL_USER_ID", "second")
    assert load().resolve().user_id == "second"
