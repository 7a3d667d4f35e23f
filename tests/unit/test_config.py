"""The data root resolves like Docker's: daemon.json, then the environment wins."""

import pytest

from pyker import config
from pyker.errors import ConfigError


def test_defaults(tmp_path):
    cfg = config.load({"PYKER_DAEMON_CONFIG": str(tmp_path / "none.json")})
    assert str(cfg.data_root) == "/var/lib/pyker" and str(cfg.run_root) == "/run/pyker"


def test_daemon_json_then_env(tmp_path):
    daemon = tmp_path / "daemon.json"
    daemon.write_text('{"data-root": "/srv/pyker"}')
    env = {"PYKER_DAEMON_CONFIG": str(daemon)}
    assert str(config.load(env).data_root) == "/srv/pyker"
    assert str(config.load({**env, "PYKER_DATA_ROOT": "/x"}).data_root) == "/x"


@pytest.mark.parametrize("text, why", [("{", "line 1"), ("[]", "JSON object"),
                                       ('{"data-root": "rel"}', "absolute")])
def test_malformed_daemon_json_names_the_file(tmp_path, text, why):
    daemon = tmp_path / "daemon.json"
    daemon.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load({"PYKER_DAEMON_CONFIG": str(daemon)})
    assert str(daemon) in str(err.value) and why in str(err.value)
