"""Reaching the service from a tablet: the public address, TLS and trusted proxies, as settings and as
the checks ``companion serve`` makes before it listens."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError
from starlette.requests import Request
from typer.testing import CliRunner

from companion.api.live import origin_allowed
from companion.care.alerting import AlertConfig
from companion.cli import app as cli_app
from companion.cli import server_config
from companion.edge import check_serving, is_loopback, page_origins, public_base_url, uvicorn_options
from companion.errors import InvalidInput
from companion.settings import Settings

PUBLIC = "https://care.example.org"


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://care.example.org", "https://care.example.org"),
        ("https://care.example.org/", "https://care.example.org"),
        ("  https://Care.Example.org:443/  ", "https://care.example.org"),
        ("https://companion.home.arpa:8443", "https://companion.home.arpa:8443"),
        ("http://192.168.1.20:8000/", "http://192.168.1.20:8000"),
        ("https://[fd00::20]:8443", "https://[fd00::20]:8443"),
    ],
)
def test_the_public_url_is_read_from_the_environment_and_normalised(
    monkeypatch: pytest.MonkeyPatch, given: str, kept: str
) -> None:
    monkeypatch.setenv("COMPANION_PUBLIC_URL", given)
    assert Settings().public_url == kept


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("care.example.org", "must start with https://"),
        ("ftp://care.example.org", "must start with https://"),
        ("https://", "must name a host"),
        ("https://care.example.org/?next=1", "must not have a query"),
        ("https://care.example.org/#top", "must not have a query (?...) or a fragment"),
        ("https://care.example.org/companion/", "without a path"),
        ("https://dana:secret@care.example.org", "must not carry a user name or password"),
        ("https://care.example.org:99999", "must be an http or https address"),
    ],
)
def test_a_public_url_that_cannot_be_a_link_is_refused_saying_why(
    monkeypatch: pytest.MonkeyPatch, given: str, said: str
) -> None:
    monkeypatch.setenv("COMPANION_PUBLIC_URL", given)
    with pytest.raises(ValidationError) as info:
        Settings()
    [error] = info.value.errors()
    assert error["loc"] == ("public_url",)
    assert said in error["msg"]


def test_trusted_proxies_are_a_comma_separated_list_of_addresses_and_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().trusted_proxies == [], "nobody's forwarded headers are believed by default"
    monkeypatch.setenv("COMPANION_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8,::1, 172.18.0.1/16")
    assert Settings().trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "::1", "172.18.0.0/16"]


@pytest.mark.parametrize("entry", ["proxy.lan", "*", "10.0.0.0/33"])
def test_a_trusted_proxy_must_be_an_address_or_network(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    monkeypatch.setenv("COMPANION_TRUSTED_PROXIES", f"127.0.0.1,{entry}")
    with pytest.raises(ValidationError, match="is not an IP address or network"):
        Settings()


@pytest.mark.parametrize(("given", "missing"), [("cert", "KEY"), ("key", "CERT")])
def test_tls_needs_both_the_certificate_and_the_key(tmp_path: Path, given: str, missing: str) -> None:
    with pytest.raises(ValidationError) as info:
        settings(tmp_path, **{f"tls_{given}": tmp_path / "a.pem"})
    assert f"without COMPANION_TLS_{missing}: set both to serve https, or neither" in str(info.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_needs_no_settings(tmp_path: Path, host: str) -> None:
    assert is_loopback(host)
    assert check_serving(settings(tmp_path, host=host)) == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "companion.lan"])
def test_listening_beyond_loopback_needs_the_public_url(tmp_path: Path, host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(InvalidInput) as info:
        check_serving(settings(tmp_path, host=host))
    assert info.value.field == "public_url"
    assert f"would listen on {host}" in info.value.message
    assert "set COMPANION_PUBLIC_URL" in info.value.message
    assert check_serving(settings(tmp_path, host=host, public_url=PUBLIC)) == []


def test_a_proxy_in_front_needs_the_public_url_too(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="COMPANION_TRUSTED_PROXIES says a reverse proxy"):
        check_serving(settings(tmp_path, trusted_proxies=["127.0.0.1"]))
    assert check_serving(settings(tmp_path, trusted_proxies=["127.0.0.1"], public_url=PUBLIC)) == []


def test_a_plain_http_public_url_for_a_tablet_is_warned_about(tmp_path: Path) -> None:
    [warning] = check_serving(settings(tmp_path, host="0.0.0.0", public_url="http://192.168.1.20:8000"))
    assert "opens the microphone only on an https page" in warning
    assert check_serving(settings(tmp_path, public_url="http://localhost:8000")) == []


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    leaf = trustme.CA().issue_cert("companion.test")
    cert, key = folder / "cert.pem", folder / "key.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(key))
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    return cert, key


def test_tls_files_that_load_pass(tmp_path: Path, pair_files: tuple[Path, Path]) -> None:
    cert, key = pair_files
    assert check_serving(settings(tmp_path, tls_cert=cert, tls_key=key)) == []


def test_a_missing_tls_file_is_named(tmp_path: Path, pair_files: tuple[Path, Path]) -> None:
    cert, _ = pair_files
    absent = tmp_path / "nope.key"
    with pytest.raises(InvalidInput) as info:
        check_serving(settings(tmp_path, tls_cert=cert, tls_key=absent))
    assert info.value.message == f"COMPANION_TLS_KEY: no such file: {absent}"


def test_a_certificate_and_key_of_different_pairs_are_refused(
    tmp_path: Path, pair_files: tuple[Path, Path]
) -> None:
    cert, _ = pair_files
    other_key = tmp_path / "other.pem"
    trustme.CA().issue_cert("companion.test").private_key_pem.write_to_path(str(other_key))
    with pytest.raises(InvalidInput, match="cannot be used together: they must be PEM files of one key pair"):
        check_serving(settings(tmp_path, tls_cert=cert, tls_key=other_key))


def _request(base: str) -> Request:
    scheme, _, host = base.partition("://")
    return Request(
        {"type": "http", "scheme": scheme, "server": None, "path": "/", "root_path": "",
         "query_string": b"", "headers": [(b"host", host.encode())]}
    )  # fmt: skip


def test_links_start_with_the_public_url_whatever_address_the_request_came_to(tmp_path: Path) -> None:
    configured = settings(tmp_path, public_url=PUBLIC + "/")
    assert public_base_url(configured, _request("http://127.0.0.1:8000")) == PUBLIC
    assert public_base_url(configured) == PUBLIC


def test_without_it_links_follow_the_request_or_the_listening_address(
    tmp_path: Path, pair_files: tuple[Path, Path]
) -> None:
    plain = settings(tmp_path, port=8123)
    assert public_base_url(plain, _request("http://localhost:8123")) == "http://localhost:8123"
    assert public_base_url(plain) == "http://127.0.0.1:8123"
    cert, key = pair_files
    assert public_base_url(settings(tmp_path, host="::1", tls_cert=cert, tls_key=key)) == "https://[::1]:8000"


def test_alert_messages_link_to_the_public_url(tmp_path: Path) -> None:
    """The delivery worker has no request: its acknowledgement links come from the same function."""
    assert AlertConfig.from_settings(settings(tmp_path, public_url=PUBLIC + "/")).public_url == PUBLIC
    assert AlertConfig.from_settings(settings(tmp_path, port=8123)).public_url == "http://127.0.0.1:8123"


def test_uvicorn_is_given_tls_and_only_the_trusted_proxies(
    tmp_path: Path, pair_files: tuple[Path, Path]
) -> None:
    cert, key = pair_files
    plain = server_config(object(), "127.0.0.1", 8000, edge=settings(tmp_path))  # type: ignore[arg-type]
    assert plain.proxy_headers is False and not plain.is_ssl
    bare = server_config(object(), "127.0.0.1", 8000)  # type: ignore[arg-type]
    assert bare.proxy_headers is False, "not uvicorn's default, which believes any local process"
    edge = settings(tmp_path, tls_cert=cert, tls_key=key, trusted_proxies="10.0.0.2", public_url=PUBLIC)
    assert uvicorn_options(edge) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.2"],
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
    }
    config = server_config(object(), "0.0.0.0", 8443, edge=edge)  # type: ignore[arg-type]
    assert config.is_ssl and config.proxy_headers and config.forwarded_allow_ips == ["10.0.0.2"]


@pytest.mark.parametrize(
    ("env", "args", "said"),
    [
        ({}, ["--host", "0.0.0.0"], "would listen on 0.0.0.0, beyond this computer"),
        ({"COMPANION_HOST": "0.0.0.0"}, [], "set COMPANION_PUBLIC_URL to the address families open it at"),
        ({"COMPANION_PUBLIC_URL": "care.example.org"}, [], "COMPANION_PUBLIC_URL: must start with https://"),
        ({"COMPANION_TLS_KEY": "/srv/key.pem"}, [], "COMPANION_TLS_KEY is set without COMPANION_TLS_CERT"),
        ({"COMPANION_TRUSTED_PROXIES": "nginx"}, [], "COMPANION_TRUSTED_PROXIES: 'nginx' is not an IP"),
    ],
)
def test_serve_stops_at_once_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], args: list[str], said: str
) -> None:
    monkeypatch.setenv("COMPANION_DATA_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli_app, ["serve", *args])
    assert result.exit_code == 2
    assert said in " ".join(result.output.split()), result.output
    assert not (tmp_path / "companion.db").exists(), "nothing was opened"


def test_the_public_origin_is_the_pages_own_even_when_a_proxy_drops_the_port_from_host(
    tmp_path: Path,
) -> None:
    """nginx's ``Host $host`` is the name without the port: a tablet's page at the public address on
    port 8443 is still this service's page (its pairing and its conversation are not refused)."""
    origin, host = "https://companion.home.arpa:8443", "companion.home.arpa"
    assert not origin_allowed(origin, host, page_origins(settings(tmp_path)))
    assert origin_allowed(origin, host, page_origins(settings(tmp_path, public_url=origin + "/")))
    assert not origin_allowed(
        "https://evil.example", host, page_origins(settings(tmp_path, public_url=origin))
    )
