"""The action catalogue: the shipped file is complete and valid; a bad one is refused by name."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from retain.core.errors import ConfigError
from retain.core.tables import CHANNELS, PRODUCTS, RETENTION_ACTIONS
from serving.actions import DEFAULT_CATALOGUE, NO_ACTION, ActionCatalogue, Condition

RAW: dict[str, Any] = yaml.safe_load(DEFAULT_CATALOGUE.read_text())
CATALOGUE = ActionCatalogue.load()


def _entry(data: dict[str, Any], action_id: str) -> dict[str, Any]:
    return next(a for a in data["actions"] if a["id"] == action_id)


def test_shipped_catalogue_has_every_action() -> None:
    """It holds a cross-sell per product, the retention and service actions and no_action."""
    expected = {
        *(f"xsell_{p}" for p in PRODUCTS),
        *RETENTION_ACTIONS,
        "resolve_complaint",
        "mobile_onboarding",
        NO_ACTION,
    }
    assert set(CATALOGUE.ids()) == expected
    assert CATALOGUE.version == "2025.1"
    kinds = {a.id: a.kind for a in CATALOGUE.actions}
    assert all(kinds[f"xsell_{p}"] == "cross_sell" for p in PRODUCTS)
    assert all(kinds[r] == "retention" for r in RETENTION_ACTIONS)
    assert kinds["resolve_complaint"] == kinds["mobile_onboarding"] == "service"
    assert kinds[NO_ACTION] == "none"


def test_shipped_catalogue_is_plausible() -> None:
    """Cross-sells need consent and earn more than they cost; complaints are served without it."""
    for a in CATALOGUE.actions:
        assert set(a.channels) <= set(CHANNELS)
        if a.kind == "cross_sell":
            assert a.needs_consent and a.value > a.cost > 0
            assert a.product is not None and a.id == f"xsell_{a.product}"
    assert not CATALOGUE["resolve_complaint"].needs_consent
    assert CATALOGUE["xsell_wealth_funds"].risk_level > CATALOGUE["xsell_savings"].risk_level


def test_lookup_by_id() -> None:
    """Actions are found by id, and unknown ids are not there."""
    assert CATALOGUE["xsell_mortgage"].product == "mortgage"
    assert "xsell_mortgage" in CATALOGUE and "xsell_yacht" not in CATALOGUE


def _set(action_id: str, key: str, value: Any):
    def edit(d: dict[str, Any]) -> None:
        _entry(d, action_id)[key] = value

    return edit


def _drop(action_id: str, key: str):
    def edit(d: dict[str, Any]) -> None:
        del _entry(d, action_id)[key]

    return edit


def _duplicate(d: dict[str, Any]) -> None:
    d["actions"].append(copy.deepcopy(_entry(d, "rm_call")))


def _no_no_action(d: dict[str, Any]) -> None:
    d["actions"] = [a for a in d["actions"] if a["id"] != NO_ACTION]


def _cond(action_id: str, cond: dict[str, Any]):
    def edit(d: dict[str, Any]) -> None:
        _entry(d, action_id)["eligibility"] = [cond]

    return edit


def _policy(key: str, value: Any):
    def edit(d: dict[str, Any]) -> None:
        d["contact_policy"][key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "names"),
    [
        (
            _set("xsell_savings", "channels", ["mobile", "fax"]),
            ["'xsell_savings'", "'channels'", "fax"],
        ),
        (_set("rm_call", "channels", []), ["'rm_call'", "'channels'"]),
        (_duplicate, ["'rm_call'", "'id'", "duplicate"]),
        (
            _cond("xsell_mortgage", {"feature": "age", "op": "=>", "value": 18}),
            ["'xsell_mortgage'", "'eligibility[0].op'"],
        ),
        (
            _cond("xsell_mortgage", {"feature": "agee", "op": ">=", "value": 18}),
            ["'xsell_mortgage'", "'eligibility[0].feature'", "agee"],
        ),
        (
            _cond("xsell_mortgage", {"feature": "age", "op": ">=", "value": "old"}),
            ["'xsell_mortgage'", "'eligibility[0]'", "number"],
        ),
        (
            _cond("xsell_mortgage", {"feature": "income_band", "op": "in", "value": 3}),
            ["'xsell_mortgage'", "'eligibility[0]'", "list"],
        ),
        (_set("fee_waiver", "cost", -5), ["'fee_waiver'", "'cost'"]),
        (_set("xsell_pension", "value", -1), ["'xsell_pension'", "'value'"]),
        (_set("fee_waiver", "value", 100), ["'fee_waiver'", "'value'"]),
        (_set("xsell_pension", "risk_level", 6), ["'xsell_pension'", "'risk_level'"]),
        (_set("xsell_pension", "kind", "upsell"), ["'xsell_pension'", "'kind'"]),
        (_set("xsell_pension", "product", "yacht"), ["'xsell_pension'", "'product'", "yacht"]),
        (_set("xsell_pension", "product", "mortgage"), ["'xsell_pension'", "'id'"]),
        (_set("xsell_pension", "product", None), ["'xsell_pension'", "'product'"]),
        (_set("xsell_pension", "cooldown_days", -1), ["'xsell_pension'", "'cooldown_days'"]),
        (_set("xsell_pension", "max_per_month", 0), ["'xsell_pension'", "'max_per_month'"]),
        (_set("xsell_pension", "colour", "blue"), ["'xsell_pension'", "'colour'"]),
        (_drop("xsell_pension", "needs_consent"), ["'xsell_pension'", "'needs_consent'"]),
        (_set("rm_call", "kind", "none"), ["'rm_call'", "'kind'"]),
        (_set(NO_ACTION, "cost", 3), ["'no_action'", "'cost'"]),
        (_no_no_action, ["'no_action'", "'id'", "missing"]),
        (
            _policy("per_week", {"branch": 1, "mobile": 3, "phone": 1}),
            ["contact_policy", "'per_week'", "sms_email"],
        ),
        (
            _policy("per_week", {"branch": 9, "mobile": 3, "phone": 1, "sms_email": 2}),
            ["contact_policy", "'per_week'", "branch"],
        ),
        (_policy("repeat_days", -1), ["contact_policy", "'repeat_days'"]),
    ],
)
def test_bad_catalogue_names_entry_and_field(edit: Any, names: list[str]) -> None:
    """A bad catalogue is refused with one line naming the entry and the field."""
    data = copy.deepcopy(RAW)
    edit(data)
    with pytest.raises(ConfigError) as e:
        ActionCatalogue.from_dict(data)
    message = str(e.value)
    assert "\n" not in message
    for name in names:
        assert name in message, message


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "mapping"),
        ({**RAW, "extra": 1}, "extra"),
        ({k: v for k, v in RAW.items() if k != "version"}, "'version'"),
        ({k: v for k, v in RAW.items() if k != "contact_policy"}, "'contact_policy'"),
        ({**RAW, "actions": []}, "'actions'"),
    ],
)
def test_bad_top_level_is_refused(data: Any, field: str) -> None:
    """The top level needs a version, a contact policy and a list of actions, nothing else."""
    with pytest.raises(ConfigError, match=field):
        ActionCatalogue.from_dict(data)


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    """A missing file or broken YAML is a ConfigError naming the file."""
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        ActionCatalogue.load(tmp_path / "nowhere.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("actions: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        ActionCatalogue.load(bad)


@pytest.mark.parametrize(
    ("op", "bound", "value", "holds"),
    [
        (">=", 18, 18, True),
        (">=", 18, 17, False),
        ("<", 65, 64.5, True),
        ("<", 65, 65, False),
        ("<=", 2, 2, True),
        (">", 2, 2, False),
        ("==", False, False, True),
        ("==", False, True, False),
        ("!=", "retired", "employed", True),
        ("in", ["new_job", "marriage"], "marriage", True),
        ("in", ["new_job", "marriage"], "child", False),
        (">=", 18, None, False),
        (">=", 18, float("nan"), False),
        (">=", 18, "eighteen", False),
        ("==", False, None, False),
    ],
)
def test_condition_holds(op: str, bound: Any, value: Any, holds: bool) -> None:
    """A condition compares the feature's value; a missing or mistyped value never passes."""
    feature = "life_event" if op in ("in", "!=") else "age"
    cond = Condition.model_validate({"feature": feature, "op": op, "value": bound})
    assert cond.holds({feature: value}) is holds


def test_condition_missing_feature_fails() -> None:
    """A customer without the feature fails the condition."""
    cond = Condition(feature="age", op=">=", value=18)
    assert not cond.holds({})
