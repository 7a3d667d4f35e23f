"""Image references normalize exactly as Docker's distribution/reference does."""

import pytest

from pyker.errors import InvalidReference
from pyker.image.reference import parse, parse_tagged

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text, full, familiar", [
    ("busybox", "docker.io/library/busybox", "busybox"),
    ("busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox", "busybox"),
    ("revollat/layers1", "docker.io/revollat/layers1", "revollat/layers1"),
    ("localhost/app", "localhost/app", "localhost/app"),
    ("localhost:5000/app:v1.2", "localhost:5000/app:v1.2", "localhost:5000/app:v1.2"),
    ("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app"),
    ("registry.example.com/a/b/c:tag_1", "registry.example.com/a/b/c:tag_1",
     "registry.example.com/a/b/c:tag_1"),
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
    (f"busybox:1.36@{DIGEST}", f"docker.io/library/busybox:1.36@{DIGEST}",
     f"busybox:1.36@{DIGEST}"),
    ("a__b/c-d.e", "docker.io/a__b/c-d.e", "a__b/c-d.e"),
])
def test_parse_normalizes(text, full, familiar):
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


def test_latest_is_implied():
    assert parse_tagged("busybox") == parse("busybox:latest") == parse(
        "docker.io/library/busybox:latest")
    assert parse_tagged(f"busybox@{DIGEST}").tag is None


def test_port_is_not_a_tag():
    ref = parse("localhost:5000/app")
    assert (ref.domain, ref.path, ref.tag) == ("localhost:5000", "app", None)


@pytest.mark.parametrize("text, why", [
    ("", ""),
    ("Busybox", "must be lowercase"),
    ("busybox:", "invalid tag"),
    ("busybox:-x", "invalid tag"),
    ("bus box", ""),
    ("busybox@sha256:xyz", "invalid digest"),
    ("a//b", ""),
    ("/busybox", ""),
    ("busybox:" + "t" * 129, "invalid tag"),
    (" busybox", ""),
])
def test_malformed_references_are_refused(text, why):
    with pytest.raises(InvalidReference) as err:
        parse(text)
    assert "invalid reference format" in str(err.value)
    assert why in str(err.value)


def test_name_length_limit():
    with pytest.raises(InvalidReference, match="255"):
        parse("a/" + "b" * 260)
