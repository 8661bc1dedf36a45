"""`retain keys` and the refusal to open customer data beyond this host without a key."""

from __future__ import annotations

from tests.conftest import CliRunner


def test_keys_are_added_listed_and_revoked_and_the_secret_shown_once(run_cli: CliRunner):
    added = run_cli("keys", "add", "crm", "--scopes", "recommend,feedback")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()
    assert secret.startswith("rk_") and "first key" in added.stderr
    listed = run_cli("keys", "list")
    assert "crm" in listed.stdout and "feedback,recommend" in listed.stdout
    assert secret not in listed.stdout + listed.stderr
    assert run_cli("keys", "revoke", "crm").returncode == 0
    again = run_cli("keys", "revoke", "crm")
    assert again.returncode == 2 and again.stderr.startswith("error: no active key named 'crm'")


def test_a_bad_scope_is_one_line(run_cli: CliRunner):
    done = run_cli("keys", "add", "crm", "--scopes", "admin")
    assert done.returncode == 2
    line = done.stderr.strip()
    assert line.startswith("error: unknown scope(s) admin: use one or more of score, recommend")
    assert line.endswith("comma-separated") and "\n" not in line


def test_serving_beyond_this_host_without_a_key_is_refused(run_cli: CliRunner):
    done = run_cli("serve", "--host", "0.0.0.0", "--port", "3999")
    assert done.returncode == 2
    assert "no API key exists: add one with `retain keys add NAME`" in done.stderr
