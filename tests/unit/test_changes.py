"""``--change`` instructions of import/commit set the config as a Dockerfile would."""

import pytest

from pyker.errors import UsageError
from pyker.build.changes import apply_changes
from pyker.spec.image import ContainerConfig


def test_exec_and_shell_forms():
    c = apply_changes(ContainerConfig(), ['CMD ["echo", "hi"]', "ENTRYPOINT top -b"])
    assert c.cmd == ("echo", "hi")
    assert c.entrypoint == ("/bin/sh", "-c", "top -b")


def test_env_label_expose_volume_user_workdir():
    c = apply_changes(ContainerConfig(env=("A=1",)), [
        "ENV A=2 B=x", "ENV C hello world", 'LABEL maintainer="me" v=1', "EXPOSE 80 53/udp",
        'VOLUME ["/data"]', "USER nobody", "WORKDIR /srv", "STOPSIGNAL SIGINT"])
    assert c.env == ("A=2", "B=x", "C=hello world")
    assert c.labels == {"maintainer": "me", "v": "1"}
    assert c.exposed_ports == ("53/udp", "80/tcp")
    assert c.volumes == ("/data",)
    assert (c.user, c.working_dir, c.stop_signal) == ("nobody", "/srv", "SIGINT")


@pytest.mark.parametrize("bad", ["RUN echo", "FROM busybox", "USER", "LABEL novalue"])
def test_refused(bad):
    with pytest.raises(UsageError):
        apply_changes(ContainerConfig(), [bad])
