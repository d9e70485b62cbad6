"""``asyncbatch.cli._credentials``: which credentials a job uses, given a token file and an
environment (a plain mapping: the process's own is not read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncbatch import OAuthRefresh
from asyncbatch.cli._credentials import (
    CredentialsError,
    NoCredentialsError,
    choose_credentials,
    environment_secrets,
)

APP = {
    "HUBSPOT_CLIENT_ID": "unit-client-id",
    "HUBSPOT_CLIENT_SECRET": "unit-client-secret-9f",
    "HUBSPOT_REFRESH_TOKEN": "unit-refresh-token-3c",
}
TOKEN = {"HUBSPOT_ACCESS_TOKEN": "unit-static-token-77"}


def test_the_oauth_app_wins_over_the_access_token_and_says_so() -> None:
    chosen = choose_credentials(None, {**APP, **TOKEN})
    assert isinstance(chosen.oauth, OAuthRefresh) and chosen.token == ""
    assert chosen.oauth.refresh_token == APP["HUBSPOT_REFRESH_TOKEN"]
    assert chosen.unused == "HUBSPOT_ACCESS_TOKEN is set too and not used"
    alone = choose_credentials(None, APP)
    assert alone.oauth is not None and alone.unused is None
    for text in (repr(chosen), repr(chosen.oauth), chosen.source):
        assert all(secret not in text for secret in (*APP.values(), *TOKEN.values()))


def test_a_token_file_wins_over_everything(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  file-token-0123  \n")
    chosen = choose_credentials(path, {**APP, **TOKEN, "HUBSPOT_CLIENT_ID": ""})
    assert chosen.token == "file-token-0123" and chosen.oauth is None
    assert chosen.source == f"--token-file {path}"


def test_the_access_token_alone_and_blanks_as_unset() -> None:
    chosen = choose_credentials(
        None, {**TOKEN, "HUBSPOT_CLIENT_ID": " ", "HUBSPOT_REFRESH_TOKEN": ""}
    )
    assert chosen.token == TOKEN["HUBSPOT_ACCESS_TOKEN"] and chosen.oauth is None
    assert chosen.source == "HUBSPOT_ACCESS_TOKEN"
    with pytest.raises(NoCredentialsError, match="no access token"):
        choose_credentials(None, {"HUBSPOT_ACCESS_TOKEN": "  "})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            ["HUBSPOT_REFRESH_TOKEN"],
            "HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET are not set (HUBSPOT_REFRESH_TOKEN is)",
        ),
        (
            ["HUBSPOT_CLIENT_ID", "HUBSPOT_REFRESH_TOKEN"],
            "HUBSPOT_CLIENT_SECRET is not set (HUBSPOT_CLIENT_ID and HUBSPOT_REFRESH_TOKEN are)",
        ),
    ],
)
def test_a_partial_set_names_what_is_missing_and_no_value(given: list[str], message: str) -> None:
    environ = {name: APP[name] for name in given} | TOKEN  # the access token does not rescue it
    with pytest.raises(CredentialsError) as caught:
        choose_credentials(None, environ)
    assert not isinstance(caught.value, NoCredentialsError)
    text = str(caught.value)
    assert text.startswith(f"incomplete OAuth credentials: {message}; ")
    assert "\n" not in text
    assert all(secret not in text for secret in (*APP.values(), *TOKEN.values()))


def test_environment_secrets_are_the_values_to_mask() -> None:
    found = environment_secrets({**APP, **TOKEN, "HUBSPOT_CLIENT_SECRET": " padded-secret "})
    assert sorted(found) == sorted(
        ["unit-static-token-77", "padded-secret", "unit-refresh-token-3c"]
    )  # the client id is no secret: HubSpot shows it in every install link
    assert environment_secrets({}) == []
