"""``retain plan``'s capacity option: what it accepts and the one line that refuses the rest."""

from __future__ import annotations

import pytest

from retain.cli.plan import parse_capacity
from retain.core.errors import ConfigError


def test_capacities_are_read_per_channel():
    assert parse_capacity("phone=500, branch=200") == {"phone": 500, "branch": 200}
    assert parse_capacity("sms_email=0") == {"sms_email": 0}
    assert parse_capacity(None) == {}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("phone:500", "CHANNEL=CONTACTS"),
        ("phone=", "CHANNEL=CONTACTS"),
        ("phone=500,", "CHANNEL=CONTACTS"),
        ("pigeon=3", "unknown channel 'pigeon'"),
        ("phone=1,phone=2", "given twice"),
        ("phone=-1", "whole number"),
        ("phone=2.5", "whole number"),
    ],
)
def test_a_bad_capacity_is_one_line(text, match):
    with pytest.raises(ConfigError, match=match) as e:
        parse_capacity(text)
    assert "\n" not in str(e.value)
