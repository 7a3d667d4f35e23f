"""Registry auth without a registry: WWW-Authenticate parsing, Docker's config.json, and
Docker's rule for which registries may be reached over plain HTTP."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from pyker.errors import ConfigError
from pyker.registry.challenge import Challenge, parse, parse_all, repository_scope
from pyker.registry.credentials import HUB_KEY, CredentialStore, Credentials, config_dir
from pyker.registry.transport import is_insecure


# -- WWW-Authenticate ---------------------------------------------------------------------------

def test_basic_challenge():
    assert parse('Basic realm="pyker-lab-registry"') == [
        Challenge(scheme="basic", params={"realm": "pyker-lab-registry"})]


def test_bearer_challenge_of_docker_hub():
    [c] = parse('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                'scope="repository:library/busybox:pull"')
    assert c.scheme == "bearer" and c.realm == "https://auth.docker.io/token"
    assert c.params == {"realm": "https://auth.docker.io/token",
                        "service": "registry.docker.io",
                        "scope": "repository:library/busybox:pull"}


def test_quoted_commas_escapes_tokens_and_case():
    [c] = parse('BEARER Realm="http://h/t?a=1,b=2", scope="repository:a:pull,push", '
                'error=insufficient_scope, note="say \\"hi\\""')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "http://h/t?a=1,b=2", "scope": "repository:a:pull,push",
                        "error": "insufficient_scope", "note": 'say "hi"'}


def test_several_challenges_in_one_header_and_several_headers():
    found = parse('Basic realm="a", Bearer realm="b",service="s"')
    assert [(c.scheme, c.params) for c in found] == [
        ("basic", {"realm": "a"}), ("bearer", {"realm": "b", "service": "s"})]
    assert [c.scheme for c in parse_all(['Basic realm="x"', 'Bearer realm="y"'])] == \
        ["basic", "bearer"]


def test_junk_and_unterminated_quotes_do_not_raise():
    assert parse("") == []
    assert parse(", ,") == []
    assert parse('Bearer realm="unterminated') == [
        Challenge(scheme="bearer", params={"realm": "unterminated"})]


def test_repository_scope():
    assert repository_scope("team/app", "pull", "push") == "repository:team/app:pull,push"


# -- config.json --------------------------------------------------------------------------------

def test_store_writes_docker_format_mode_0600_and_keeps_other_keys(tmp_path):
    directory = tmp_path / "docker"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(
        {"auths": {"other:5000": {"auth": "eDp5"}}, "proxies": {"default": {}},
         "credHelpers": {"gcr.io": "gcloud"}}))
    store = CredentialStore(directory)
    store.store("127.0.0.1:5000", Credentials(username="student", password="s3:cr3t"))
    doc = json.loads((directory / "config.json").read_text())
    assert doc["auths"]["127.0.0.1:5000"] == {
        "auth": base64.b64encode(b"student:s3:cr3t").decode()}
    assert doc["auths"]["other:5000"] == {"auth": "eDp5"}
    assert doc["proxies"] == {"default": {}} and doc["credHelpers"] == {"gcr.io": "gcloud"}
    assert stat.S_IMODE((directory / "config.json").stat().st_mode) == 0o600
    # A password may hold ':'; only the first one separates it from the user name.
    assert store.get("127.0.0.1:5000") == Credentials(username="student", password="s3:cr3t")


def test_new_directory_is_private(tmp_path):
    store = CredentialStore(tmp_path / "fresh")
    store.store("localhost:5000", Credentials(username="u", password="p"))
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700


def test_keys_written_with_scheme_or_path_are_found_and_erased(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        "http://127.0.0.1:5000/v2/": {"auth": base64.b64encode(b"a:b").decode()},
        HUB_KEY: {"auth": base64.b64encode(b"hub:pw").decode()}}}))
    store = CredentialStore(tmp_path)
    assert store.get("127.0.0.1:5000") == Credentials(username="a", password="b")
    assert store.get("docker.io") == Credentials(username="hub", password="pw")
    assert store.get("127.0.0.1:5001") is None
    assert store.erase("127.0.0.1:5000") is True
    assert store.erase("127.0.0.1:5000") is False
    assert list(json.loads((tmp_path / "config.json").read_text())["auths"]) == [HUB_KEY]


def test_store_on_docker_hub_uses_the_legacy_key(tmp_path):
    store = CredentialStore(tmp_path)
    store.store("docker.io", Credentials(username="me", password="pw"))
    assert list(json.loads((tmp_path / "config.json").read_text())["auths"]) == [HUB_KEY]


def test_malformed_config_names_the_file(tmp_path):
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ConfigError, match=r"config\.json: line 1"):
        CredentialStore(tmp_path).get("x:1")
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"x:1": {"auth": "!!"}}}))
    with pytest.raises(ConfigError, match=r'auths\["x:1"\]\.auth: not base64'):
        CredentialStore(tmp_path).get("x:1")


def test_missing_file_means_no_credentials(tmp_path):
    assert CredentialStore(tmp_path / "none").get("127.0.0.1:5000") is None
    assert CredentialStore(tmp_path / "none").erase("127.0.0.1:5000") is False


def test_config_dir_follows_docker_config_then_home():
    assert str(config_dir({"DOCKER_CONFIG": "/x/y", "HOME": "/h"})) == "/x/y"
    assert str(config_dir({"HOME": "/home/student"})) == "/home/student/.docker"


# -- insecure registries ------------------------------------------------------------------------

@pytest.mark.parametrize("registry, listed, expected", [
    ("127.0.0.1:5000", [], True),
    ("127.8.9.10", [], True),
    ("[::1]:5000", [], True),
    ("localhost:5000", [], True),
    ("10.0.0.5:5000", [], False),
    ("10.0.0.5:5000", ["10.0.0.5:5000"], True),
    ("10.0.0.5:5000", ["10.0.0.0/8"], True),
    ("10.0.0.5:5000", ["192.168.0.0/16"], False),
    ("registry.example:5000", ["registry.example:5000"], True),
    ("registry-1.docker.io", [], False),
])
def test_insecure_as_docker_decides(registry, listed, expected):
    assert is_insecure(registry, listed) is expected
