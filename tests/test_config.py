"""Tests for redial.config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from redial.config import CallbackSounds, QueueCallbackSettings, Secret, describe, load_settings, parse_settings
from redial.exceptions import ConfigError
from redial.tools.cli import main

REPO = Path(__file__).resolve().parent.parent


class TestDefaults:
    """Every key has a default; the shipped example is valid."""

    def test_empty_file_is_valid(self) -> None:
        settings = parse_settings(None, env={})
        assert settings.policy.callback_window == 20 and settings.policy.queues is None
        assert 44 in settings.policy.abnormal_causes and 16 not in settings.policy.abnormal_causes

    def test_shipped_example_is_valid(self) -> None:
        settings = load_settings(REPO / "config" / "redial.yaml", env={})
        assert settings.originate.context == "redial-out"


class TestErrors:
    """Bad input names the key path and what was expected."""

    @pytest.mark.parametrize(
        ("data", "path", "words"),
        [
            ({"policy": {"callback_windw": 5}}, "policy.callback_windw", "did you mean 'callback_window'"),
            ({"polcy": {}}, "polcy", "unknown key"),
            ({"policy": {"callback_window": "soon"}}, "policy.callback_window", "expected a number"),
            ({"policy": {"callback_window": -1}}, "policy.callback_window", "from 0 to 3600"),
            ({"policy": {"abnormal_causes": [44, 200]}}, "policy.abnormal_causes[1]", "0 to 127"),
            ({"policy": {"queues": "support"}}, "policy.queues", '"*" or a non-empty list'),
            ({"ami": {"port": True}}, "ami.port", "whole number"),
            ({"ami": []}, "ami", "expected a mapping"),
            ({"originate": {"context": "bad context"}}, "originate.context", "letters, digits"),
            ({"logging": {"level": "loud"}}, "logging.level", "one of debug"),
        ],
    )
    def test_error_names_the_key(self, data: object, path: str, words: str) -> None:
        with pytest.raises(ConfigError) as caught:
            parse_settings(data, env={})
        assert caught.value.path == path and words in str(caught.value)

    def test_bad_yaml_names_line(self, tmp_path: Path) -> None:
        file = tmp_path / "r.yaml"
        file.write_text("policy:\n  queues: [a\n")
        with pytest.raises(ConfigError, match="not valid YAML at line"):
            load_settings(file, env={})

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="cannot read"):
            load_settings(tmp_path / "nope.yaml", env={})


class TestSecrets:
    """The AMI secret: file, environment, never shown."""

    def test_environment_overrides(self) -> None:
        env = {
            "REDIAL_AMI_HOST": "10.0.0.1",
            "REDIAL_AMI_PORT": "15038",
            "REDIAL_AMI_USERNAME": "u",
            "REDIAL_AMI_SECRET": "s3cr3t-from-the-environment",
        }
        ami = parse_settings({"ami": {"secret": "file"}}, env=env).ami
        assert (ami.host, ami.port, ami.username, ami.secret.reveal()) == (
            "10.0.0.1",
            15038,
            "u",
            "s3cr3t-from-the-environment",
        )

    def test_bad_port_in_environment(self) -> None:
        with pytest.raises(ConfigError, match="REDIAL_AMI_PORT"):
            parse_settings({}, env={"REDIAL_AMI_PORT": "many"})

    def test_secret_never_printed(self) -> None:
        settings = parse_settings({"ami": {"secret": "hunter2-hunter2-hunter2"}}, env={})
        assert "hunter2" not in repr(settings) and "hunter2" not in str(describe(settings))
        assert str(Secret("hunter2")) == "Secret('********')"

    def test_secret_file(self, tmp_path: Path) -> None:
        file = tmp_path / "secret"
        file.write_text("from-the-secret-file\n")
        os.chmod(file, 0o600)
        secret = parse_settings({"ami": {"secret_file": str(file)}}, env={}).ami.secret
        assert secret.reveal() == "from-the-secret-file"

    def test_world_readable_secret_file_refused(self, tmp_path: Path) -> None:
        file = tmp_path / "secret"
        file.write_text("x")
        os.chmod(file, 0o644)
        with pytest.raises(ConfigError, match="readable by every user"):
            parse_settings({"ami": {"secret_file": str(file)}}, env={})


class TestSecretRules:
    """Placeholders, short secrets and secrets others can read are refused, naming where the secret came from."""

    @pytest.mark.parametrize(
        "secret", ["CHANGE-ME", "change-me-to-a-long-random-secret", "ChangeMe0123456789abcdef", "Replace_Me_Please!!"]
    )
    def test_placeholder_refused(self, secret: str) -> None:
        """CHANGE-ME and its kin, in any case and punctuation, whatever their length."""
        with pytest.raises(ConfigError) as caught:
            parse_settings({"ami": {"secret": secret}}, env={})
        assert caught.value.path == "ami.secret" and "placeholder" in caught.value.message

    def test_shipped_placeholders_refused(self) -> None:
        """The secrets config/manager_redial.conf ships are refused as they are."""
        text = (REPO / "config" / "manager_redial.conf").read_text(encoding="utf-8")
        shipped = [line.split("=", 1)[1].strip() for line in text.splitlines() if "secret =" in line]
        assert len(shipped) == 2
        for secret in shipped:
            with pytest.raises(ConfigError, match="placeholder"):
                parse_settings({"ami": {"secret": secret}}, env={})

    def test_short_and_repeated_secrets_refused(self) -> None:
        """Fewer than 16 characters, or a few characters repeated, is no secret."""
        with pytest.raises(ConfigError, match="has 15 characters, fewer than 16"):
            parse_settings({"ami": {"secret": "x" * 5 + "0123456789"}}, env={})
        with pytest.raises(ConfigError, match="not random"):
            parse_settings({"ami": {"secret": "abab" * 8}}, env={})
        assert parse_settings({"ami": {"secret": "0123456789abcdef"}}, env={}).ami.secret

    def test_each_source_is_named(self, tmp_path: Path) -> None:
        """The error names the secret file, the environment variable or the systemd credential."""
        file = tmp_path / "secret"
        file.write_text("short\n")
        file.chmod(0o600)
        with pytest.raises(ConfigError) as caught:
            parse_settings({"ami": {"secret_file": str(file)}}, env={})
        assert caught.value.path == "ami.secret_file"
        with pytest.raises(ConfigError) as caught:
            parse_settings({}, env={"REDIAL_AMI_SECRET": "CHANGE-ME"})
        assert caught.value.path == "REDIAL_AMI_SECRET"
        (tmp_path / "ami-secret").write_text("short\n")
        with pytest.raises(ConfigError) as caught:
            parse_settings({}, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
        assert caught.value.path == f"credential {tmp_path / 'ami-secret'}"

    def test_group_readable_secret_file_refused(self, tmp_path: Path) -> None:
        """A secret file its group can read is refused, with the chmod that fixes it."""
        file = tmp_path / "secret"
        file.write_text("a-long-random-secret-value")
        file.chmod(0o640)
        with pytest.raises(ConfigError, match=f"readable by its group; chmod 600 {file}") as caught:
            parse_settings({"ami": {"secret_file": str(file)}}, env={})
        assert caught.value.path == "ami.secret_file"

    @pytest.mark.parametrize(("mode", "readers"), [(0o644, "every user"), (0o640, "its group")])
    def test_inline_secret_in_readable_file_refused(self, tmp_path: Path, mode: int, readers: str) -> None:
        """An inline secret in a file others can read is refused; the fix says chmod 600 or secret_file."""
        file = tmp_path / "r.yaml"
        file.write_text("ami:\n  secret: a-long-random-secret-value\n")
        file.chmod(mode)
        with pytest.raises(ConfigError) as caught:
            load_settings(file, env={})
        assert caught.value.path == "ami.secret" and f"which {readers} can read; chmod 600 {file}" in str(caught.value)
        assert "secret_file" in str(caught.value) and "LoadCredential" in str(caught.value)
        file.chmod(0o600)
        assert load_settings(file, env={}).ami.secret.reveal() == "a-long-random-secret-value"
        # Only an inline secret makes the file's mode matter.
        file.write_text("ami:\n  port: 5038\n")
        file.chmod(mode)
        assert load_settings(file, env={"REDIAL_AMI_SECRET": "a-long-random-secret-value"}).ami.secret

    def test_problems_collected_instead_of_raised(self, tmp_path: Path) -> None:
        """Given a list, the rules fill it and the settings still load (the doctor's way)."""
        file = tmp_path / "r.yaml"
        file.write_text("ami:\n  secret: CHANGE-ME\n")
        file.chmod(0o644)
        problems: list[ConfigError] = []
        settings = load_settings(file, env={}, secret_problems=problems)
        assert settings.ami.secret.reveal() == "CHANGE-ME"
        assert [p.path for p in problems] == ["ami.secret", "ami.secret"]
        assert "placeholder" in problems[0].message and "every user can read" in problems[1].message


class TestPolicySections:
    """Numbers, hours, retry, agent, overrides and the outage guard."""

    def test_hours_parsed(self) -> None:
        hours = parse_settings(
            {
                "policy": {
                    "hours": {
                        "timezone": "Europe/Berlin",
                        "weekly": {"fri": ["13:00-17:00", "08:00-12:00"]},
                        "holidays": ["2026-12-25"],
                    }
                }
            },
            env={},
        ).policy.hours
        assert hours.weekly is not None and hours.weekly[4] == ((480, 720), (780, 1020)) and hours.weekly[0] == ()
        assert [str(d) for d in hours.holidays] == ["2026-12-25"]

    @pytest.mark.parametrize(
        ("data", "path"),
        [
            ({"policy": {"hours": {"weekly": {"monday": []}}}}, "policy.hours.weekly.monday"),
            ({"policy": {"hours": {"holidays": ["25.12.2026"]}}}, "policy.hours.holidays[0]"),
            ({"policy": {"numbers": {"home_region": "usa"}}}, "policy.numbers.home_region"),
            ({"policy": {"retry": {"retry_on": ["customer_rejected"]}}}, "policy.retry.retry_on[0]"),
            ({"policy": {"agent": {"fallback": "anyone"}}}, "policy.agent.fallback"),
            ({"policy": {"queue_overrides": {"vip": {"queues": ["x"]}}}}, "policy.queue_overrides.vip.queues"),
            ({"policy": {"min_talk_time": 60, "max_talk_time": 30}}, "policy.max_talk_time"),
            ({"outage_guard": {"rate": 0}}, "outage_guard.rate"),
        ],
    )
    def test_errors_name_the_key(self, data: object, path: str) -> None:
        with pytest.raises(ConfigError) as caught:
            parse_settings(data, env={})
        assert caught.value.path == path

    def test_override_merges_over_base(self) -> None:
        settings = parse_settings(
            {
                "policy": {
                    "callback_window": 20,
                    "retry": {"attempts": 3, "spacing": 60},
                    "queue_overrides": {"vip": {"retry": {"attempts": 1}}},
                }
            },
            env={},
        )
        vip = settings.policy_for("vip")
        assert (vip.retry.attempts, vip.retry.spacing, vip.callback_window) == (1, 60, 20)
        assert settings.policy_for("other").retry.attempts == 3


class TestPromiseSettings:
    """policy.promise (per queue) and promise: (the daemon's), with the ladder in seconds."""

    def test_defaults(self) -> None:
        """15 min, an hour, the next opening; enabled, the API off."""
        settings = parse_settings({}, env={})
        assert settings.policy.promise.ladder == (900.0, 3600.0, None)
        assert (settings.promise.enabled, settings.promise.api.enabled, settings.promise.api.token_file) == (
            True,
            False,
            None,
        )

    def test_ladder_parsed(self) -> None:
        """Seconds, minutes, hours, a bare number and next_opening, in order."""
        data = {"policy": {"promise": {"ladder": ["90s", "15m", "2h", "next_opening", 45, "30"]}}}
        assert parse_settings(data, env={}).policy.promise.ladder == (90.0, 900.0, 7200.0, None, 45.0, 30.0)

    def test_per_queue_override(self) -> None:
        """A queue's promise section overrides the base one key by key; other queues keep the base."""
        data = {
            "policy": {
                "promise": {"owner_wait": 60, "min_talk": 30},
                "queue_overrides": {"vip": {"promise": {"owner_wait": 10, "ladder": ["5m"]}}},
            }
        }
        settings = parse_settings(data, env={})
        vip, other = settings.policy_for("vip").promise, settings.policy_for("support").promise
        assert (vip.owner_wait, vip.ladder, other.owner_wait, other.ladder[0]) == (10, (300.0,), 60, 900.0)
        assert (other.min_talk, settings.promise.keep_when_called_back) == (30, False)

    def test_sounds_and_names(self) -> None:
        """Sound lists and name recordings are read; an unset sound keeps its stock default."""
        data = {"policy": {"promise": {"name_sounds": {"Alice": "custom/alice"}, "sounds": {"note_exists": []}}}}
        promise = parse_settings(data, env={}).policy.promise
        assert promise.name_sounds == {"Alice": "custom/alice"}
        assert (promise.sounds.note_exists, promise.sounds.whisper_before) == ((), ("beep",))

    @pytest.mark.parametrize(
        ("data", "path"),
        [
            ({"policy": {"promise": {"owner_wiat": 1}}}, "policy.promise.owner_wiat"),
            ({"policy": {"promise": {"sounds": {"beep": []}}}}, "policy.promise.sounds.beep"),
            ({"promise": {"api": {"tokn": "x"}}}, "promise.api.tokn"),
            ({"promise": {"keep": True}}, "promise.keep"),
            ({"policy": {"promise": {"ladder": ["15x"]}}}, "policy.promise.ladder[0]"),
            ({"policy": {"promise": {"name_sounds": {"Alice": "../x"}}}}, "policy.promise.name_sounds"),
            ({"promise": {"api": {"host": "0.0.0.0"}}}, "promise.api.host"),
            ({"promise": {"webhook": "ftp://x"}}, "promise.webhook"),
        ],
    )
    def test_errors_name_the_key(self, data: object, path: str) -> None:
        """An unknown key or a bad value is an error naming where it is."""
        with pytest.raises(ConfigError) as caught:
            parse_settings(data, env={})
        assert caught.value.path == path

    def test_api_needs_a_token_file(self, tmp_path: Path) -> None:
        """Enabled without token_file is an error; with a private one it is read as a path."""
        with pytest.raises(ConfigError, match="needs a token file") as caught:
            parse_settings({"promise": {"api": {"enabled": True}}}, env={})
        assert caught.value.path == "promise.api.token_file"
        token = tmp_path / "token"
        token.write_text("a-long-random-token-0123456789\n")
        os.chmod(token, 0o600)
        api = parse_settings({"promise": {"api": {"enabled": True, "token_file": str(token)}}}, env={}).promise.api
        assert (api.enabled, api.token_file) == (True, token)


class TestCaps:
    """The daily and hourly caps are on by default; the hourly one is global."""

    def test_on_by_default(self) -> None:
        """3 redials per number a day and 120 redials an hour unless the file says otherwise."""
        policy = parse_settings({}, env={}).policy
        assert (policy.numbers.max_redials_per_day, policy.max_redials_per_hour) == (3, 120)

    def test_hourly_cap_is_the_same_for_every_queue(self) -> None:
        """An overridden queue keeps the base hourly cap; it cannot set its own."""
        data = {"policy": {"max_redials_per_hour": 40, "queue_overrides": {"vip": {"min_talk_time": 5}}}}
        assert parse_settings(data, env={}).policy_for("vip").max_redials_per_hour == 40
        with pytest.raises(ConfigError, match="counts all queues together") as caught:
            parse_settings({"policy": {"queue_overrides": {"vip": {"max_redials_per_hour": 5}}}}, env={})
        assert caught.value.path == "policy.queue_overrides.vip.max_redials_per_hour"


class TestCredentials:
    """systemd's LoadCredential gives the secret when the file does not."""

    def test_credential_directory(self, tmp_path: Path) -> None:
        (tmp_path / "ami-secret").write_text("from-the-credential\n")
        ami = parse_settings({}, env={"CREDENTIALS_DIRECTORY": str(tmp_path)}).ami
        assert ami.secret.reveal() == "from-the-credential"

    def test_config_secret_wins(self, tmp_path: Path) -> None:
        (tmp_path / "ami-secret").write_text("from-the-credential\n")
        env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
        ami = parse_settings({"ami": {"secret": "the-inline-secret"}}, env=env).ami
        assert ami.secret.reveal() == "the-inline-secret"

    def test_retention(self) -> None:
        assert parse_settings({}, env={}).store.retention_days == 90
        with pytest.raises(ConfigError, match=r"store\.retention_days"):
            parse_settings({"store": {"retention_days": -1}}, env={})


class TestAmiValues:
    """Values AMI cannot carry are configuration errors, not a silent login failure."""

    def test_secret_with_line_break(self) -> None:
        with pytest.raises(ConfigError, match=r"ami\.secret"):
            parse_settings({"ami": {"secret": "a\r\nAction: Originate"}}, env={})
        with pytest.raises(ConfigError, match=r"ami\.username"):
            parse_settings({}, env={"REDIAL_AMI_USERNAME": "x\ny"})


class TestCustomerRoute:
    """originate.customer_route: the trunk, or the admin's own outbound routing through a context."""

    def test_default_is_the_trunk(self) -> None:
        """Left out, and written as "trunk", the customer is dialled on the trunk (no context)."""
        assert parse_settings({}, env={}).originate.customer_route is None
        assert parse_settings({"originate": {"customer_route": "trunk"}}, env={}).originate.customer_route is None

    def test_context_form(self) -> None:
        """{context: NAME} dials the customer through that dialplan context."""
        data = {"originate": {"customer_route": {"context": "outbound-allroutes"}}}
        assert parse_settings(data, env={}).originate.customer_route == "outbound-allroutes"

    def test_described_as_written(self) -> None:
        """check-config shows the route the way the YAML writes it."""
        assert describe(parse_settings({}, env={}))["originate"]["customer_route"] == "trunk"
        routed = parse_settings({"originate": {"customer_route": {"context": "from-internal"}}}, env={})
        assert describe(routed)["originate"]["customer_route"] == {"context": "from-internal"}

    def test_shipped_example_documents_it(self) -> None:
        """The shipped redial.yaml spells out the default and the context form."""
        text = (REPO / "config" / "redial.yaml").read_text(encoding="utf-8")
        assert "  customer_route: trunk\n" in text and "# customer_route: {context: outbound-allroutes}" in text

    @pytest.mark.parametrize(
        ("route", "path", "words"),
        [
            ("from-internal", "originate.customer_route", "write customer_route: {context: from-internal}"),
            (7, "originate.customer_route", 'expected "trunk" or {context: <dialplan context>}, got int'),
            ({}, "originate.customer_route.context", "missing"),
            ({"context": "from internal"}, "originate.customer_route.context", "letters, digits"),
            ({"context": "a&Local/b"}, "originate.customer_route.context", "letters, digits"),
            ({"contxt": "x"}, "originate.customer_route.contxt", "did you mean 'context'"),
            ({"context": "redial-out"}, "originate.customer_route.context", "the redial context itself"),
        ],
    )
    def test_errors_name_the_key(self, route: object, path: str, words: str) -> None:
        """A wrong route names its key path and what was expected."""
        with pytest.raises(ConfigError) as caught:
            parse_settings({"originate": {"customer_route": route}}, env={})
        assert caught.value.path == path and words in str(caught.value)


class TestWrapupTime:
    """policy.agent.wrapup_time: the queue's own wrapuptime, which AMI never reports."""

    def test_default_zero(self) -> None:
        """No wrap-up unless configured, and no per-queue table without overrides."""
        settings = parse_settings({}, env={})
        assert settings.policy.agent.wrapup_time == 0 and settings.queue_wrapup_times() == {}

    def test_per_queue_override(self) -> None:
        """A queue override replaces the base value for that queue only."""
        settings = parse_settings(
            {
                "policy": {
                    "agent": {"wrapup_time": 10},
                    "queue_overrides": {"vip": {"agent": {"wrapup_time": 45}}, "night": {"callback_window": 5}},
                }
            },
            env={},
        )
        assert settings.policy.agent.wrapup_time == 10
        assert settings.policy_for("vip").agent.wrapup_time == 45
        assert settings.queue_wrapup_times() == {"vip": 45, "night": 10}

    @pytest.mark.parametrize(
        ("data", "path"),
        [
            ({"policy": {"agent": {"wrapup_time": -1}}}, "policy.agent.wrapup_time"),
            ({"policy": {"agent": {"wrapup_time": 2.5}}}, "policy.agent.wrapup_time"),
            ({"policy": {"agent": {"wrapup_time": "30s"}}}, "policy.agent.wrapup_time"),
            ({"policy": {"agent": {"wrapuptime": 30}}}, "policy.agent.wrapuptime"),
            (
                {"policy": {"queue_overrides": {"vip": {"agent": {"wrapup_time": 99999}}}}},
                "policy.queue_overrides.vip.agent.wrapup_time",
            ),
        ],
    )
    def test_errors_name_the_key(self, data: object, path: str) -> None:
        """Not a whole number of seconds from 0 to 3600 (or misspelt): the error names the key."""
        with pytest.raises(ConfigError) as caught:
            parse_settings(data, env={})
        assert caught.value.path == path


class TestDialPrefixes:
    """policy.numbers.dial_prefixes: outside-line digits, checked."""

    def test_parsed(self) -> None:
        """Digits written with or without quotes become strings."""
        settings = parse_settings({"policy": {"numbers": {"dial_prefixes": [9, "00"]}}}, env={})
        assert settings.policy.numbers.dial_prefixes == ("9", "00")

    def test_bad_value_names_the_key(self) -> None:
        """A prefix that is no digits is an error naming its path."""
        with pytest.raises(ConfigError, match=r"policy\.numbers\.dial_prefixes\[0\]"):
            parse_settings({"policy": {"numbers": {"dial_prefixes": ["9x"]}}}, env={})


class TestControl:
    """The control socket: an absolute path a Unix socket can have, and a group that exists."""

    def test_default_is_the_runtime_directory(self) -> None:
        """systemd's RuntimeDirectory=redial, and the service's own group."""
        control = parse_settings({}, env={}).control
        assert (control.socket, control.group) == (Path("/run/redial/control.sock"), None)

    @pytest.mark.parametrize(
        ("control", "words"),
        [
            ({"socket": "run/control.sock"}, "an absolute path"),
            ({"socket": "/" + "x" * 107}, "longer than a Unix socket path may be (107 bytes)"),
            ({"group": "no-such-group-here"}, "there is no group 'no-such-group-here' on this host"),
            ({"group": "root;x"}, "a group name"),
        ],
    )
    def test_bad_values(self, control: dict[str, str], words: str) -> None:
        """Each names its key."""
        with pytest.raises(ConfigError) as caught:
            parse_settings({"control": control}, env={})
        assert caught.value.path.startswith("control.") and words in caught.value.message

    def test_group_that_exists(self) -> None:
        """An existing group is kept by name."""
        assert parse_settings({"control": {"group": "root"}}, env={}).control.group == "root"


class TestQueueCallback:
    """The queue_callback section: its defaults, its bounds, and its sounds."""

    def test_defaults(self) -> None:
        """Nothing written: enabled, 20 pending a queue, 240 s a call, 3 attempts 300 s apart, stock sounds."""
        config = parse_settings({}, env={}).queue_callback
        assert config == QueueCallbackSettings() and config.sounds == CallbackSounds()
        assert (config.enabled, config.max_pending, config.handle_time) == (True, 20, 240.0)
        assert (config.attempts, config.spacing, config.press_timeout) == (3, 300.0, 5)
        assert config.agent_caller_id_name == "CALLBACK"
        assert config.sounds.customer_press == ("if-correct-press", "digits/1")

    def test_values_and_sounds_parsed(self) -> None:
        """Written values replace the defaults; a sound list written replaces only itself."""
        data = {
            "queue_callback": {
                "enabled": False,
                "max_pending": 5,
                "attempts": 2,
                "spacing": 60,
                "sounds": {"menu": ["custom/press-1-or-2"], "agent_after": []},
            }
        }
        config = parse_settings(data, env={}).queue_callback
        assert (config.enabled, config.max_pending, config.attempts, config.spacing) == (False, 5, 2, 60.0)
        assert config.sounds.menu == ("custom/press-1-or-2",) and config.sounds.agent_after == ()
        assert config.sounds.confirm_after == CallbackSounds().confirm_after

    @pytest.mark.parametrize(
        ("data", "path", "words"),
        [
            ({"max_pendng": 5}, "queue_callback.max_pendng", "did you mean 'max_pending'"),
            ({"sounds": {"custmer_press": []}}, "queue_callback.sounds.custmer_press", "did you mean 'customer_press'"),
            ({"sounds": {"menu": ["beep", "../etc/passwd"]}}, "queue_callback.sounds.menu[1]", "sound name"),
            ({"sounds": {"customer_press": ["digits/1&beep"]}}, "queue_callback.sounds.customer_press[0]", "sound"),
            ({"sounds": {"agent_before": ["beep.gsm"]}}, "queue_callback.sounds.agent_before[0]", "no dots"),
            ({"press_timeout": 1}, "queue_callback.press_timeout", "from 2 to 30"),
            ({"attempts": 0}, "queue_callback.attempts", "from 1 to 10"),
            ({"agent_caller_id_name": 'CB"x'}, "queue_callback.agent_caller_id_name", "letters, digits"),
        ],
    )
    def test_errors_name_the_key(self, data: object, path: str, words: str) -> None:
        """A misspelled key, an unsafe sound name or a value out of bounds names its key."""
        with pytest.raises(ConfigError) as caught:
            parse_settings({"queue_callback": data}, env={})
        assert caught.value.path == path and words in str(caught.value)


class TestCheckConfigExit:
    """``redial check-config`` exits 78 (EX_CONFIG) on a bad file, naming the key."""

    @pytest.mark.parametrize(
        ("text", "words"),
        [
            ("policy:\n  retry:\n    atempts: 3\n", "policy.retry.atempts: unknown key; did you mean 'attempts'?"),
            ("ami:\n  port: many\n", "ami.port: expected a whole number from 1 to 65535, got str"),
            ("policy:\n  queues: [a\n", "not valid YAML at line"),
        ],
    )
    def test_bad_file_exits_78(self, tmp_path: Path, text: str, words: str) -> None:
        """Exit code 78 and the error on stderr."""
        file = tmp_path / "r.yaml"
        file.write_text(text)
        result = CliRunner().invoke(main, ["check-config", "--config", str(file)], env={})
        assert result.exit_code == 78
        assert words in result.output

    @pytest.mark.parametrize(
        ("text", "mode", "words"),
        [
            ("ami:\n  secret: CHANGE-ME\n", 0o600, "ami.secret: the AMI secret is the placeholder"),
            ("ami:\n  secret: a-long-random-secret-value\n", 0o644, "ami.secret: the secret is written in"),
        ],
    )
    def test_bad_secret_exits_78(self, tmp_path: Path, text: str, mode: int, words: str) -> None:
        """A placeholder secret, or an inline one in a readable file: exit 78 naming ami.secret."""
        file = tmp_path / "r.yaml"
        file.write_text(text)
        file.chmod(mode)
        result = CliRunner().invoke(main, ["check-config", "--config", str(file)], env={})
        assert result.exit_code == 78 and words in result.output

    def test_good_file_exits_0(self) -> None:
        """The shipped example passes."""
        result = CliRunner().invoke(main, ["check-config", "--config", str(REPO / "config" / "redial.yaml")], env={})
        assert result.exit_code == 0 and "valid" in result.output


class TestPromiseApiToken:
    """The CRM API's token is checked with the configuration: a short one is an error naming the key."""

    def test_short_token(self, tmp_path: Path) -> None:
        token = tmp_path / "token"
        token.write_text("short\n")
        token.chmod(0o600)
        data = {"promise": {"api": {"enabled": True, "token_file": str(token)}}}
        with pytest.raises(ConfigError, match=r"promise\.api\.token_file: .*shorter than 16"):
            parse_settings(data, env={})
        token.write_text("a-long-enough-token-0123456789\n")
        assert parse_settings(data, env={}).promise.api.enabled


class TestWebhook:
    """promise.webhook is checked with the configuration, and the error never shows the URL."""

    @pytest.mark.parametrize("url", ["http://:80/x?token=sec", "http://hook.example:99999/x?token=sec"])
    def test_no_host_or_bad_port(self, url: str) -> None:
        with pytest.raises(ConfigError, match=r"promise\.webhook") as caught:
            parse_settings({"promise": {"webhook": url}}, env={})
        assert "sec" not in str(caught.value)
        assert parse_settings({"promise": {"webhook": "https://hook.example/x"}}, env={}).promise.webhook


class TestWebhookShown:
    """check-config shows where the webhook goes, never its password, path or query."""

    def test_masked(self) -> None:
        url = "https://hook:pw-9@hook.example:8443/in/tok-123?sig=abc"
        shown = describe(parse_settings({"promise": {"webhook": url}}, env={}))["promise"]["webhook"]
        assert shown.startswith("https://hook.example:8443/")
        assert not any(word in shown for word in ("pw-9", "tok-123", "sig=abc", "hook:"))
