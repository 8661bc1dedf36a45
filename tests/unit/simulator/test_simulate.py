"""The simulated bank: contracts, invariants, documented causes and the ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from retain.core import tables
from retain.core.churn import ChurnDefinition
from retain.core.columns import AS_OF, KEY
from retain.core.errors import ConfigError, RetainError
from retain.core.settings import Settings
from retain.core.truth import GroundTruth
from simulator import Drift, WorldConfig, headline_rates, simulate, world
from simulator.adoption import eligible
from simulator.calendar import US_PER_SECOND, horizon_fractions, month_bounds
from simulator.campaigns import HOLDOUT_SHARE, RULE_RETENTION_RATE, RULE_XSELL_RATE
from simulator.rates import Counts
from simulator.truth import (
    TRUTH_CUSTOMERS,
    TRUTH_MONTHLY,
    SimulatedTruth,
    ground_truth,
    horizon_probability,
    latent_traits,
    month_end_at_or_before,
)

N = 3000
CONFIG = WorldConfig(customers=N, months=24, start="2023-01", seed=11, chunk_size=1500)


def _read(home: Path, sub: str) -> pd.DataFrame:
    return pd.read_parquet(home / "data" / sub)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One simulated bank of 3,000 customers in two part files, read back."""
    settings = Settings(home=tmp_path_factory.mktemp("bank") / "home")
    manifest = simulate(CONFIG, settings)
    out = {name: _read(settings.home, f"raw/{name}") for name in tables.RAW_TABLES}
    out["truth"] = _read(settings.home, "truth/monthly")
    out["latent"] = _read(settings.home, "truth/customers")
    return {**out, "settings": settings, "manifest": manifest}


@pytest.fixture(scope="module")
def labelled(bank: dict) -> pd.DataFrame:
    """Monthly rows with the churn label, next-month churn and the truth columns."""
    df = bank["monthly"].merge(bank["churn"], on="customer_id", how="left")
    definition = ChurnDefinition()
    df["label"] = definition.label(df.month_end, df.churned_at)
    df["labelled"] = definition.is_labelled(df.month_end, df.month_end.max())
    df["p_churn"] = bank["truth"].p_churn.to_numpy()
    df["products"] = df[[f"has_{p}" for p in tables.PRODUCTS]].sum(axis=1)
    return df[df.labelled]


def test_every_table_has_the_contract_schema(bank: dict) -> None:
    """It writes each raw table with exactly the contract's schema, truth with its own."""
    home = bank["settings"].home / "data"
    for name, schema in tables.RAW_TABLES.items():
        for part in sorted((home / "raw" / name).glob("part-*.parquet")):
            assert pq.read_schema(part).remove_metadata() == schema, (name, part.name)
    for name, schema in (("monthly", TRUTH_MONTHLY), ("customers", TRUTH_CUSTOMERS)):
        part = home / "truth" / name / "part-00000.parquet"
        assert pq.read_schema(part).remove_metadata() == schema


def test_each_part_holds_all_months_of_its_own_customers_sorted(bank: dict) -> None:
    """Part files split customers, not months, and sort rows by (customer_id, month_end)."""
    parts = sorted((bank["settings"].raw_dir / "monthly").glob("part-*.parquet"))
    assert len(parts) == 2
    seen: set[int] = set()
    for part in parts:
        frame = pd.read_parquet(part)
        ids = set(frame.customer_id)
        assert not ids & seen
        seen |= ids
        key = list(zip(frame.customer_id, frame.month_end, strict=True))
        assert key == sorted(key)
        assert not frame.duplicated(["customer_id", "month_end"]).any()
    assert seen <= set(bank["customers"].customer_id)
    assert bank["customers"].customer_id.is_unique


def test_month_ends_are_the_last_second_of_the_month_in_utc(bank: dict) -> None:
    ends = pd.Series(bank["monthly"].month_end.unique())
    assert str(ends.dt.tz) == "UTC"
    assert (ends.dt.is_month_end & (ends.dt.strftime("%H:%M:%S") == "23:59:59")).all()
    assert len(ends) == CONFIG.months


def test_balances_and_flows_are_never_negative(bank: dict) -> None:
    money = [
        "bal_current",
        "bal_savings",
        "bal_time_deposit",
        "bal_wealth",
        "bal_loans",
        "inflow",
        "outflow",
        "salary_amount",
        "card_spend",
        "fees_charged",
    ]
    assert (bank["monthly"][money] >= 0).all().all()


def test_holdings_agree_with_balances(bank: dict) -> None:
    m = bank["monthly"]
    assert ((m.bal_savings > 0) == m.has_savings).all()
    assert ((m.bal_time_deposit > 0) == m.has_time_deposit).all()
    assert ((m.bal_wealth > 0) == m.has_wealth_funds).all()
    assert ((m.bal_current > 0) == m.has_current_account).all()
    any_loan = m.has_personal_loan | m.has_mortgage | m.has_car_loan
    assert ((m.bal_loans > 0) == any_loan).all()
    assert (~m.has_green_deposit | m.has_savings).all()
    assert ((m.card_spend > 0) <= m.has_credit_card).all()
    assert ((m.salary_amount > 0) == m.salary_credited).all()


def test_leavers_have_no_rows_or_contacts_after_leaving(bank: dict) -> None:
    churn = bank["churn"].set_index("customer_id").churned_at
    assert set(bank["churn"].kind) <= {"closed", "dormant"}
    rows = bank["monthly"].join(churn, on="customer_id", how="inner")
    assert (rows.month_end < rows.churned_at).all()
    contacts = bank["campaigns"].join(churn, on="customer_id", how="inner")
    assert (contacts.sent_at <= contacts.churned_at).all()
    last = rows.groupby("customer_id").month_end.max()
    assert ((churn[last.index] - last) <= pd.Timedelta(days=31)).all()


def test_customers_join_on_or_before_their_first_row(bank: dict) -> None:
    first = bank["monthly"].groupby("customer_id").month_end.min()
    joined = bank["customers"].set_index("customer_id").join_date[first.index]
    assert (joined <= first).all()
    assert (joined > pd.Timestamp(CONFIG.start, tz="UTC")).mean() > 0.1  # some join during


def test_the_same_seed_gives_the_same_bank_and_another_seed_another(tmp_path: Path) -> None:
    small = dict(customers=300, months=6, chunk_size=200)
    homes = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    for home, seed in zip(homes, (3, 3, 4), strict=True):
        simulate(WorldConfig(seed=seed, **small), Settings(home=home))
    for name in (*tables.RAW_TABLES, "../truth/monthly"):
        a, b, c = (pd.read_parquet(h / "data" / "raw" / name) for h in homes)
        pd.testing.assert_frame_equal(a, b)
        assert not a.equals(c)


def test_products_per_customer_and_rates_are_plausible(bank: dict) -> None:
    """Headline rates stay in the ranges the README quotes."""
    rates = bank["manifest"].headline
    assert 0.08 <= rates.annual_attrition <= 0.22
    assert 2.0 <= rates.products_per_customer <= 4.0
    assert 0.10 <= rates.retention_response <= 0.40
    assert 0.03 <= rates.cross_sell_response <= 0.20
    assert 0.0 < rates.randomized_share < 0.5
    on_disk = json.loads((bank["settings"].data_dir / "manifest.json").read_text())
    assert on_disk["row_counts"]["monthly"] == len(bank["monthly"])
    assert on_disk["rates"] == bank["manifest"].rates


def test_churn_is_higher_after_unresolved_complaints(labelled: pd.DataFrame) -> None:
    rate = labelled.groupby(labelled.complaints_open > 0).label.mean()
    assert rate[True] > 1.4 * rate[False]


def test_churn_is_higher_once_the_salary_stops(labelled: pd.DataFrame) -> None:
    df = labelled.sort_values(["customer_id", "month_end"])
    before = df.groupby("customer_id").salary_credited.shift(1)
    stopped = (before == True) & ~df.salary_credited  # noqa: E712
    kept = (before == True) & df.salary_credited  # noqa: E712
    assert df.label[stopped].mean() > 2 * df.label[kept].mean()


def test_churn_is_higher_with_few_products_and_short_tenure(
    bank: dict, labelled: pd.DataFrame
) -> None:
    by_products = labelled.groupby(labelled.products.clip(1, 4)).label.mean()
    assert by_products[1] > by_products[4] * 1.5
    joined = bank["customers"].set_index("customer_id").join_date
    tenure = labelled.month_end - pd.Series(
        joined[labelled.customer_id].to_numpy(), index=labelled.index
    )
    short = tenure < pd.Timedelta(days=365)
    assert labelled.label[short].mean() > 1.3 * labelled.label[~short].mean()


def test_drifting_customers_move_salary_and_money_before_leaving(bank: dict) -> None:
    """Early warning: leavers' salary and deposits fall in the months before they go."""
    m = bank["monthly"].merge(bank["churn"], on="customer_id")
    months_before = ((m.churned_at - m.month_end).dt.days // 30).clip(0, 12)
    salary = m.groupby(months_before).salary_credited.mean()
    assert salary[0] < 0.6 * salary[12]
    stayers = bank["monthly"][~bank["monthly"].customer_id.isin(bank["churn"].customer_id)]
    assert salary[2] < stayers.salary_credited.mean()


def test_a_rate_war_raises_churn_after_it_starts(tmp_path: Path) -> None:
    base = dict(customers=N, months=18, seed=5, chunk_size=N)
    start = "2023-10"
    rates = {}
    for name, drift in (("calm", ()), ("war", (Drift("rate_war", start),))):
        home = tmp_path / name
        simulate(WorldConfig(**base, drift=drift), Settings(home=home))
        churn = pd.read_parquet(home / "data/raw/churn").churned_at
        monthly = pd.read_parquet(home / "data/raw/monthly")
        market = monthly.groupby("month_end").market_rate.first()
        after = churn >= pd.Timestamp(start, tz="UTC")
        rates[name] = (after.sum(), (~after).sum(), market)
    calm, war = rates["calm"], rates["war"]
    assert war[1] == calm[1]  # identical before the start
    assert war[0] > 1.25 * calm[0]
    jump = war[2] - calm[2]
    assert (jump[jump.index < pd.Timestamp(start, tz="UTC")] == 0).all()
    assert (jump[jump.index >= pd.Timestamp(start, tz="UTC")] > 1).all()


def test_mobile_shift_and_fee_change_move_their_series(tmp_path: Path) -> None:
    base = dict(customers=500, months=12, seed=5)
    drift = (Drift("mobile_shift", "2023-04"), Drift("fee_change", "2023-04"))
    frames = []
    for name, d in (("calm", ()), ("drift", drift)):
        simulate(WorldConfig(**base, drift=d), Settings(home=tmp_path / name))
        m = pd.read_parquet(tmp_path / name / "data/raw/monthly")
        frames.append(
            m[m.month_end.dt.month >= 10][["tx_branch", "tx_mobile", "fees_charged"]].mean()
        )
    calm, moved = frames
    assert moved.tx_branch < 0.6 * calm.tx_branch
    assert moved.tx_mobile > calm.tx_mobile
    assert moved.fees_charged > 1.3 * calm.fees_charged


def test_contacts_go_to_consenting_customers_with_known_probabilities(bank: dict) -> None:
    c = bank["campaigns"]
    consent = bank["customers"].set_index("customer_id").marketing_consent
    assert consent[c.customer_id].all()
    assert c.randomized.any() and (~c.randomized).any()
    assert ((c.assignment_prob > 0) & (c.assignment_prob < 1)).all()
    retention = c.action_id.isin(tables.RETENTION_ACTIONS)
    assert (c.kind == np.where(retention, "retention", "cross_sell")).all()
    assert c.action_id[~retention].str.removeprefix("xsell_").isin(tables.PRODUCTS).all()
    assert set(c.channel) <= set(tables.CHANNELS)
    assert set(c.outcome[~c.holdout]) <= set(tables.OUTCOMES) and c.outcome[c.holdout].isna().all()
    assert c.contact_id.is_unique


def test_every_audience_keeps_a_random_holdout(bank: dict) -> None:
    """About HOLDOUT_SHARE of each part's audiences are held out, logged with no outcome; a
    held-out customer is not contacted again within the cool-down, like a contacted one."""
    c = bank["campaigns"]
    for randomized in (True, False):
        part = c[c.randomized == randomized]
        share = part.holdout.mean()
        assert abs(share - HOLDOUT_SHARE) < 3 * np.sqrt(HOLDOUT_SHARE * 0.85 / len(part))
    month = c.sent_at.dt.tz_localize(None).dt.to_period("M")
    gaps = c.assign(m=month).sort_values(["customer_id", "sent_at"]).groupby("customer_id").m
    assert (gaps.diff().dropna().map(lambda d: d.n) > 2).all()


def test_an_accepted_cross_sell_opens_the_product(bank: dict) -> None:
    c = bank["campaigns"]
    won = c[(c.kind == "cross_sell") & (c.outcome == "accepted")].copy()
    won["month_end"] = won.sent_at.dt.tz_localize(None).dt.to_period("M").dt.to_timestamp(
        "M"
    ).dt.tz_localize("UTC") + pd.Timedelta(hours=23, minutes=59, seconds=59)
    rows = won.merge(bank["monthly"], on=["customer_id", "month_end"])
    assert len(rows) > 10
    held = [row[f"has_{row['action_id'].removeprefix('xsell_')}"] for _, row in rows.iterrows()]
    assert np.mean(held) > 0.95  # a loan may be paid off or a pot drained in the same month


def test_sleeping_dogs_churn_more_when_contacted_and_persuadables_less(bank: dict) -> None:
    """A contact pushes sleeping dogs away, and anyone with a grievance it recalls; a customer
    without a grievance who is no sleeping dog is unmoved by a bare contact. Persuadables are
    helped on average; lost causes never are."""
    t = bank["truth"].merge(bank["latent"], on="customer_id")
    dogs = t.response_type == "sleeping_dog"
    assert (t.effect_contact[dogs] > 0).all()
    assert (t.effect_contact[~dogs] >= -1e-7).all()
    assert (t.effect_contact[~dogs] == 0).any() and (t.effect_contact[~dogs] > 0).any()
    assert t.effect_contact[~dogs].mean() < t.effect_contact[dogs].mean() / 2
    persuadable = t.response_type == "persuadable"
    assert t.effect_rm_call[persuadable].mean() < 0
    assert t.effect_loyalty_bonus[t.response_type == "lost_cause"].min() >= -1e-6
    # In the realised path, contacted sleeping dogs' churn probability goes up.
    c = bank["campaigns"]
    c = c[~c.holdout]
    contacted = set(
        zip(c.customer_id, c.sent_at.dt.tz_localize(None).dt.to_period("M"), strict=True)
    )
    next_month = t.month_end.dt.tz_localize(None).dt.to_period("M") + 1
    hit = np.array([k in contacted for k in zip(t.customer_id, next_month, strict=True)])
    ratio = t.p_churn / t.p_churn_no_contact
    assert ratio[dogs & hit].mean() > 1.3
    assert ratio[~dogs & ~hit].mean() == pytest.approx(1.0, abs=0.05)


def test_truth_probability_matches_the_labels_on_average(labelled: pd.DataFrame) -> None:
    """p_churn is the label's probability: their means agree."""
    assert labelled.p_churn.mean() == pytest.approx(labelled.label.mean(), rel=0.15)
    top = labelled.p_churn > labelled.p_churn.quantile(0.9)
    assert labelled.label[top].mean() > 4 * labelled.label[~top].mean()


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.mark.parametrize(
    ("at", "month_end"),
    [
        ("2024-03-31 23:59:59", "2024-03-31 23:59:59"),  # a snapshot: its own month end
        ("2024-03-31 23:59:59.5", "2024-03-31 23:59:59"),
        ("2024-03-31 23:59:58", "2024-02-29 23:59:59"),  # inside March: February's end
        ("2024-03-10 12:00:00", "2024-02-29 23:59:59"),
        ("2024-01-01 00:00:00", "2023-12-31 23:59:59"),
    ],
)
def test_a_row_reads_the_truth_of_the_month_end_at_or_before_its_time(
    at: str, month_end: str
) -> None:
    """A monthly snapshot reads its own month end; a send time inside a month reads the end of
    the month before, whose truth describes an offer in the month that follows."""
    got = month_end_at_or_before(pd.Series([ts(at)], index=[7]))
    assert got.tolist() == [ts(month_end)] and got.index.tolist() == [7]


def _rows(t: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows at two month ends, interleaved and with an unknown customer, and their truth rows."""
    months = sorted(t.month_end.unique())
    a, b = months[len(months) // 2], months[len(months) // 2 + 1]
    picked = pd.concat(
        [t[t.month_end == a].head(4), t[t.month_end == b].head(4)], ignore_index=True
    ).iloc[[0, 4, 1, 5, 2, 6, 3, 7]]
    rows = pd.DataFrame({KEY: picked.customer_id, AS_OF: picked.month_end}).reset_index(drop=True)
    unknown = pd.DataFrame({KEY: [1], AS_OF: [a]})
    return pd.concat([rows, unknown], ignore_index=True), picked.reset_index(drop=True)


def test_the_truth_answers_for_the_rows_given_in_their_order(bank: dict) -> None:
    """Each row gets its own customer's truth at its own month end; unknown customers get NaN."""
    truth = ground_truth(bank["settings"])
    assert isinstance(truth, SimulatedTruth) and isinstance(truth, GroundTruth)
    rows, expected = _rows(bank["truth"])
    p = truth.churn_probability(rows)
    assert p.shape == (9,) and p.dtype == np.float64
    np.testing.assert_array_equal(p[:8], expected.p_churn.to_numpy(dtype=np.float64))
    assert np.isnan(p[8])
    adoption = truth.adoption(rows, ("savings", "mortgage"))
    np.testing.assert_array_equal(adoption[:8, 1], expected.p_open_mortgage.to_numpy(np.float64))
    actions = ("fee_waiver", "contact", "xsell_savings")
    effects = truth.offer_effects(rows, actions)
    assert effects.shape == (9, 3) and np.isnan(effects[8]).all()
    np.testing.assert_array_equal(effects[:8, 0], expected.effect_fee_waiver.to_numpy(np.float64))
    held = expected.merge(bank["monthly"], on=["customer_id", "month_end"]).has_savings.to_numpy()
    assert (effects[:8, 2][held] == 0).all() and (adoption[:8, 0][held] == 0).all()
    assert truth.churn_probability(rows.iloc[:0]).shape == (0,)


def test_a_send_time_inside_a_month_reads_the_month_end_before(bank: dict) -> None:
    """Ten days after a month end a row still reads that month end's truth."""
    truth = ground_truth(bank["settings"])
    assert truth is not None
    rows, _ = _rows(bank["truth"])
    later = rows.assign(**{AS_OF: rows[AS_OF] + pd.Timedelta(days=10)})
    actions = ("rm_call", "xsell_credit_card")
    np.testing.assert_array_equal(
        truth.offer_effects(later, actions), truth.offer_effects(rows, actions)
    )


def test_the_truth_refuses_an_action_it_does_not_know(bank: dict) -> None:
    truth = ground_truth(bank["settings"])
    assert truth is not None
    rows, _ = _rows(bank["truth"])
    with pytest.raises(ValueError, match="effect_complaint_callback"):
        truth.offer_effects(rows, ("complaint_callback",))


def test_there_is_no_truth_where_nothing_was_simulated(tmp_path: Path) -> None:
    """A home without simulated data (a bank's own) has no ground truth; the latent traits say
    what to run."""
    assert ground_truth(Settings(home=tmp_path)) is None
    with pytest.raises(RetainError, match="retain simulate"):
        latent_traits(Settings(home=tmp_path), [1])


def test_latent_traits_are_read_per_customer(bank: dict) -> None:
    ids = bank["customers"].customer_id.head(5).tolist()
    traits = latent_traits(bank["settings"], ids)
    assert sorted(traits.index) == sorted(ids) and traits.response_type.notna().all()


def test_a_contact_logs_its_probability_under_the_arm_that_chose_it(bank: dict) -> None:
    """A randomised contact logs the experiment's design probability of its action given what
    the bank knew at the month end before: each retention action 1/8 (1/4 when no product may be
    offered), a cross-sell 1/2 over the products the customer may open, times the share not held
    out; its holdout rows log the holdout share. A rule contact logs the rules' probability times
    the share not held out, a rule holdout that probability times the holdout share."""
    c = bank["campaigns"]
    held = c[c.holdout]
    np.testing.assert_allclose(
        held.assignment_prob[held.randomized].to_numpy(np.float64), HOLDOUT_SHARE, rtol=1e-6
    )
    held = held[~held.randomized]
    expected = np.where(held.kind == "retention", RULE_RETENTION_RATE, RULE_XSELL_RATE)
    np.testing.assert_allclose(
        held.assignment_prob.to_numpy(np.float64), expected * HOLDOUT_SHARE, rtol=1e-6
    )
    c = c[~c.holdout]
    rand = c[c.randomized].assign(month_end=lambda d: month_end_at_or_before(d.sent_at))
    snap = rand.merge(bank["monthly"], on=["customer_id", "month_end"], how="left").merge(
        bank["customers"][["customer_id", "income_band"]], on="customer_id"
    )
    assert len(snap) == len(rand) > 100 and snap.age.notna().all()
    state = SimpleNamespace(
        has=snap[[f"has_{p}" for p in tables.PRODUCTS]].to_numpy(dtype=bool),
        age=snap.age.to_numpy(),
    )
    profile = SimpleNamespace(income_band=snap.income_band.to_numpy())
    allowed = eligible(state, profile)  # type: ignore[arg-type]
    n_allowed = allowed.sum(1)
    retention = (snap.kind == "retention").to_numpy()
    product = snap.action_id.str.removeprefix("xsell_").map(
        {p: i for i, p in enumerate(tables.PRODUCTS)}
    )
    xsell = np.flatnonzero(~retention)
    assert allowed[xsell, product.to_numpy()[xsell].astype(int)].all()
    design = np.where(
        retention, np.where(n_allowed > 0, 0.5, 1.0) / 4, 0.5 / np.maximum(n_allowed, 1)
    ) * (1 - HOLDOUT_SHARE)
    np.testing.assert_allclose(snap.assignment_prob.to_numpy(np.float64), design, rtol=1e-6)
    rules = c[~c.randomized]
    expected = np.where(rules.kind == "retention", RULE_RETENTION_RATE, RULE_XSELL_RATE)
    np.testing.assert_allclose(
        rules.assignment_prob.to_numpy(np.float64), expected * (1 - HOLDOUT_SHARE), rtol=1e-6
    )


def test_a_failed_run_leaves_the_previous_data_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home")
    simulate(WorldConfig(customers=200, months=4, seed=1), settings)
    before = (settings.data_dir / "manifest.json").read_text()
    real = world.simulate_chunk

    def fail_on_second(config, chunk, *args, **kwargs):  # type: ignore[no-untyped-def]
        if chunk == 1:
            raise KeyboardInterrupt
        return real(config, chunk, *args, **kwargs)

    monkeypatch.setattr("simulator.run.simulate_chunk", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        simulate(WorldConfig(customers=400, months=4, seed=2, chunk_size=200), settings)
    assert (settings.data_dir / "manifest.json").read_text() == before
    assert len(pd.read_parquet(settings.raw_dir / "customers")) == 200
    assert sorted(p.name for p in settings.home.iterdir()) == ["data"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": -5}, "--customers must be a positive number, got -5"),
        ({"months": 0}, "--months must be a positive number, got 0"),
        ({"chunk_size": 0}, "--chunk-size must be a positive number"),
        ({"start": "2023-13"}, "--start must look like YYYY-MM"),
        ({"drift": (Drift("rate_war", "2030-01"),)}, "starts outside the simulated months"),
    ],
)
def test_bad_configs_are_refused_with_a_clear_message(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        WorldConfig(**kwargs)


@pytest.mark.parametrize("text", ["rate_war", "storm@2023-01", "rate_war@23-01"])
def test_bad_drift_text_is_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        Drift.parse(text)


def test_horizon_fractions_cover_ninety_days() -> None:
    starts, ends = month_bounds(pd.Period("2023-01", freq="M"), 10)
    f = horizon_fractions(starts, ends, 90 * 86400 * US_PER_SECOND, 4)
    days = (ends - starts + US_PER_SECOND) / (86400 * US_PER_SECOND)
    covered = [(f[t] * days[t + 1 : t + 5]).sum() for t in range(6)]
    np.testing.assert_allclose(covered, 90, atol=1e-6)
    assert (f[:6, :2] == 1).all()


def test_horizon_probability_compounds_monthly_hazards() -> None:
    intensity = np.array([[0.1, 0.2, 0.0, 0.3]])
    p = horizon_probability(intensity, np.ones((1, 4)), np.array([[1, 1, 1, 0.5]]))
    h = 1 - np.exp(-intensity[0])
    assert p[0] == pytest.approx(1 - (1 - h[0]) * (1 - h[1]) * (1 - 0.5 * h[3]))


def test_headline_rates_from_counts() -> None:
    rates = headline_rates(
        Counts(
            customer_months_at_risk=1000,
            churned=10,
            active_at_end=10,
            products_at_end=30,
            retention_contacts=4,
            retention_accepted=1,
        )
    )
    assert rates.monthly_churn == 0.01
    assert rates.annual_attrition == pytest.approx(1 - 0.99**12)
    assert rates.products_per_customer == 3
    assert rates.retention_response == 0.25
    assert rates.cross_sell_response == 0
