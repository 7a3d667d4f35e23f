"""Bad compose files: each refused with one exact line naming the file, line and key.

The files are under ``compose_bad/``; each test loads one of them from that directory (so
messages name it as a user typing ``-f NAME.yaml`` would see it) and compares the message.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyker.compose.loader import load
from pyker.errors import ComposeError

BAD = Path(__file__).parent / "compose_bad"
INVALID = "invalid compose project"

EXPECTED = {
    "yaml_syntax": "yaml_syntax.yaml:3:17: mapping values are not allowed here",
    "tab_indent": "tab_indent.yaml:3:1: found character '\\t' that cannot start any token",
    "duplicate_key": 'duplicate_key.yaml:5: mapping key "image" already defined at line 3',
    "non_string_key": "non_string_key.yaml:5: non-string key 80: compose keys are names, "
                      "quote it",
    "empty": "empty.yaml: empty compose file",
    "unknown_top_key": 'unknown_top_key.yaml:2: unknown top-level key "servics"',
    "version1_format": 'version1_format.yaml:1: unknown top-level key "cpu-stress" (a version '
                       '1 file? pyker reads services under "services:")',
    "secrets": 'secrets.yaml:4: top-level "secrets" is not supported by pyker',
    "no_services": "no_services.yaml: no service defined",
    "unknown_service_key": 'unknown_service_key.yaml:3: service "web": unknown key "imgae"',
    "unsupported_key": 'unsupported_key.yaml:4: service "web": "sysctls" is not supported '
                       "by pyker",
    "bad_service_name": 'bad_service_name.yaml:2: invalid service name "web server": use '
                        "only [a-zA-Z0-9._-]",
    "ports_not_list": 'ports_not_list.yaml:4: service "web": ports must be a list',
    "environment_wrong_type": 'environment_wrong_type.yaml:4: service "web": environment '
                              "must be a list or a mapping",
    "command_wrong_type": 'command_wrong_type.yaml:4: service "web": command must be a '
                          "string or a list",
    "depends_on_wrong_type": 'depends_on_wrong_type.yaml:4: service "web": depends_on must '
                             "be a list or a mapping",
    "bad_boolean": 'bad_boolean.yaml:4: service "web": privileged must be a boolean',
    "no_image_no_build": 'no_image_no_build.yaml:2: service "web" has neither an image nor '
                         f"a build context specified: {INVALID}",
    "cycle": "dependency cycle detected: web -> api -> db -> web",
    "undefined_network": 'undefined_network.yaml:6: service "web" refers to undefined '
                         f"network back: {INVALID}",
    "undefined_volume": 'undefined_volume.yaml:6: service "web" refers to undefined volume '
                        f"data: {INVALID}",
    "undefined_dependency": 'undefined_dependency.yaml:5: service "web" depends on '
                            f'undefined service "db": {INVALID}',
    "network_mode_and_networks": 'network_mode_and_networks.yaml:5: service "web" declares '
                                 'mutually exclusive "network_mode" and "networks": '
                                 f"{INVALID}",
    "bad_condition": 'bad_condition.yaml:6: service "web": depends_on.db.condition: invalid '
                     'condition "service_ready": use service_started, service_healthy, '
                     "service_completed_successfully",
    "bad_port": 'bad_port.yaml:6: service "web": ports[1]: invalid port "abc"',
    "bad_port_long": 'bad_port_long.yaml:6: service "web": ports[0].published: invalid '
                     'port "99999"',
    "bad_volume_mode": 'bad_volume_mode.yaml:5: service "web": volumes[0]: invalid mode '
                       '"rshared" in "/srv:/srv:rshared": use ro or rw, nocopy, z or Z',
    "relative_target": 'relative_target.yaml:5: service "web": volumes[0]: invalid mount '
                       'target "./code": must be an absolute path',
    "bad_restart": 'bad_restart.yaml:4: service "web": restart: invalid restart policy '
                   '"sometimes": use no, always, on-failure[:max-retries] or unless-stopped',
    "bad_duration": 'bad_duration.yaml:6: service "web": healthcheck.interval: invalid '
                    'duration "10 seconds"',
    "bad_size": 'bad_size.yaml:4: service "web": mem_limit: invalid size "12x"',
    "bad_healthcheck_test": 'bad_healthcheck_test.yaml:5: service "web": healthcheck.test: '
                            'must start with NONE, CMD or CMD-SHELL, not "curl"',
    "bad_command_quote": 'bad_command_quote.yaml:4: service "web": command: invalid command '
                         "\"sh -c 'echo unterminated\": no closing quotation",
    "distinct_memory": 'distinct_memory.yaml:5: service "web": can\'t set distinct values '
                       'on "mem_limit" and "deploy.resources.limits.memory"',
    "container_name_scaled": 'container_name_scaled.yaml:2: service "web": can\'t set '
                             "container_name and scale above 1: a container name must be "
                             "unique",
    "missing_env_file": 'missing_env_file.yaml:5: service "web": env_file[0]: env file '
                        f"{BAD}/does-not-exist.env not found: stat "
                        f"{BAD}/does-not-exist.env: no such file or directory",
    "required_variable": "required_variable.yaml:3: error while interpolating "
                         "services.web.image: required variable TAG is missing a value: "
                         "set TAG to the image tag",
    "bad_interpolation": 'bad_interpolation.yaml:3: invalid interpolation format for '
                         'services.web.image: "${VAR"',
    "external_network_driver": 'external_network_driver.yaml:8: conflicting parameters '
                               '"external" and "driver" specified for network "outside"',
    "network_driver": 'network_driver.yaml:6: network "mesh": driver "overlay" is not '
                      "supported by pyker (bridge only)",
    "invalid_project_name": 'invalid_project_name.yaml:1: invalid project name "My_App": '
                            "must consist only of lowercase alphanumeric characters, "
                            "hyphens, and underscores as well as start with a letter or "
                            "number",
}


def test_every_bad_file_has_an_expected_message() -> None:
    assert sorted(p.stem for p in BAD.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_compose_file(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(BAD)
    with pytest.raises(ComposeError) as err:
        load([f"{name}.yaml"], environ={"HOME": "/home/student"}, warn=None)
    message = str(err.value)
    assert message == EXPECTED[name]
    assert "\n" not in message
    assert err.value.exit_code == 1
    if name != "cycle":  # a cycle is between services, not on one line
        assert message.startswith(f"{name}.yaml:")
        assert err.value.file == f"{name}.yaml"
