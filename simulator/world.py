"""Simulate one chunk of customers over all months and turn it into the tables' rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from retain.core.tables import (
    CAMPAIGNS,
    CHANNELS,
    CHURN,
    CUSTOMERS,
    LIFE_EVENTS,
    MONTHLY,
    OUTCOMES,
    PRODUCTS,
    RETENTION_ACTIONS,
)
from simulator import response
from simulator.adoption import adoption_probs
from simulator.behaviour import Month, initial_state, step
from simulator.calendar import US_PER_SECOND
from simulator.campaigns import ACTIONS, N_RETENTION, choose_contacts
from simulator.config import WorldConfig
from simulator.hazard import churn_intensity, dormant_share, hazard
from simulator.market import Market
from simulator.population import (
    GENDERS,
    OCCUPATIONS,
    REGIONS,
    RESPONSE_TYPES,
    Population,
    draw_profiles,
)
from simulator.rates import Counts
from simulator.state import State
from simulator.truth import LOOKAHEAD, TRUTH_CUSTOMERS, TRUTH_MONTHLY, horizon_probability

NEVER = np.iinfo(np.int32).max


@dataclass(frozen=True)
class Calendar:
    """Month bounds for the simulated months and the hidden ones after them."""

    first_year_month: int
    starts: np.ndarray
    ends: np.ndarray
    fractions: np.ndarray  # horizon_fractions(starts, ends, horizon, LOOKAHEAD)


@dataclass(frozen=True)
class ChunkTables:
    """A chunk's rows of every table, sorted, with the totals for the headline rates."""

    tables: dict[
        str, pa.Table
    ]  # customers, monthly, churn, campaigns, truth_monthly, truth_customers
    counts: Counts


def _strings(codes: np.ndarray, values: tuple[str, ...]) -> pa.Array:
    """Codes (-1 for null) as a string array."""
    codes = np.asarray(codes, dtype=np.int32)
    dictionary = pa.DictionaryArray.from_arrays(
        pa.array(codes, mask=codes < 0), pa.array(values, pa.string())
    )
    return dictionary.cast(pa.string())


def _ts(us: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), type=pa.int64(), mask=null).cast(
        pa.timestamp("us", tz="UTC")
    )


def _table(columns: dict[str, pa.Array | np.ndarray], schema: pa.Schema) -> pa.Table:
    arrays = []
    for f in schema:
        column = columns[f.name]
        if isinstance(column, np.ndarray):
            arrays.append(pa.array(column, type=f.type))
        else:
            arrays.append(column.cast(f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def simulate_chunk(
    config: WorldConfig,
    chunk: int,
    market: Market,
    calendar: Calendar,
    on_month: Callable[[], None] = lambda: None,
) -> ChunkTables:
    """Simulate customers ``chunk * chunk_size ..`` over all months (and LOOKAHEAD hidden ones).

    The random stream is seeded from ``(seed, chunk)``, so each chunk is reproducible on its own.
    """
    rng = np.random.default_rng([config.seed, 1, chunk])
    m = config.months
    n_steps = m + LOOKAHEAD
    lo = chunk * config.chunk_size
    index = np.arange(lo, min(lo + config.chunk_size, config.customers))
    n = len(index)
    profile = draw_profiles(rng, index, config.first_month, m, calendar.starts)
    s = initial_state(rng, profile, calendar.first_year_month, int(calendar.starts[0]))

    intensity = np.zeros((n, n_steps))  # before offers, from the previous month's state
    factor = np.ones((n, n_steps + 2))  # factor from the contact in month t at [:, t + 2]
    accept_ret = np.zeros((n, m, N_RETENTION), np.float32)  # for a contact in month t + 1
    effect_ret = np.ones((n, m, N_RETENTION), np.float32)
    contact_ret = np.ones((n, m), np.float32)  # contact effect for a contact in month t + 1
    churn_month = np.full(n, NEVER, np.int32)
    churned_at = np.zeros(n, np.int64)
    dormant = np.zeros(n, bool)
    last_contact = np.full(n, -100)
    monthly: list[dict[str, np.ndarray]] = []
    contacts_out: list[dict[str, np.ndarray]] = []
    truth_now: list[dict[str, np.ndarray]] = []
    at_risk_months = 0

    for t in range(n_steps):
        month = Month.of(t, calendar.first_year_month, calendar.starts, calendar.ends, market)
        adoption = np.zeros_like(s.has, dtype=float)
        opened_by_offer = np.zeros_like(s.has)
        if t >= 1:
            intensity[:, t] = churn_intensity(s, profile, month.rate_gap, t)
            adoption = adoption_probs(s, profile)
            acc_r = response.retention_acceptance(s, profile, month.rate_gap)
            eff_r = response.retention_effect(s, profile, month.rate_gap)
            acc_x = response.cross_sell_acceptance(s, profile)
            contact_eff = response.contact_effect(s, profile, month.rate_gap)
            if t - 1 < m:
                accept_ret[:, t - 1], effect_ret[:, t - 1] = acc_r, eff_r
                contact_ret[:, t - 1] = contact_eff
                rows = (profile.join_month <= t - 1) & (churn_month > t - 1)
                truth_now.append(
                    {
                        "i": np.flatnonzero(rows),
                        "p_open": adoption[rows],
                        "xsell": (acc_x * (1 - adoption))[rows],
                    }
                )

            c = choose_contacts(s, profile, t, last_contact, month.rate_gap, rng)
            act = c.action
            contacted = c.contacted
            retention = contacted & (act < N_RETENTION)
            safe = np.maximum(act, 0)
            p_accept = np.where(
                retention,
                acc_r[np.arange(n), np.minimum(safe, N_RETENTION - 1)],
                acc_x[np.arange(n), np.maximum(safe - N_RETENTION, 0)],
            )
            accepted = contacted & (rng.random(n) < p_accept)
            factor[:, t + 2] = np.where(contacted, contact_eff, 1.0) * np.where(
                accepted & retention, eff_r[np.arange(n), np.minimum(safe, N_RETENTION - 1)], 1.0
            )
            xsell_accepted = accepted & ~retention
            opened_by_offer[np.flatnonzero(xsell_accepted), safe[xsell_accepted] - N_RETENTION] = (
                True
            )
            last_contact = np.where(c.in_audience, t, last_contact)

            # Leaving: drawn against the hazard, the path goes on either way (unwritten).
            at_risk = (profile.join_month <= t - 1) & (churn_month == NEVER)
            h = hazard(intensity[:, t] * factor[:, t : t + 3].prod(1))
            leaves = at_risk & (rng.random(n) < h)
            span = month.end - month.start + US_PER_SECOND
            when = (
                month.start
                + (np.ceil(rng.random(n) * span / US_PER_SECOND) - 1).astype(np.int64)
                * US_PER_SECOND
            )
            churned_at = np.where(leaves, when, churned_at)
            dormant = np.where(leaves, rng.random(n) < dormant_share(s), dormant)
            churn_month = np.where(leaves, t, churn_month).astype(np.int32)
            if t < m:
                at_risk_months += int(at_risk.sum())
                write = c.in_audience & (churn_month >= t)
                until = np.where(churn_month == t, churned_at, month.end)
                sent = month.start + ((until - month.start) * rng.random(n)).astype(np.int64)
                sent = sent // US_PER_SECOND * US_PER_SECOND
                ignored = rng.random(n) < np.where(c.channel >= 1, 0.7, 0.3)
                outcome = np.where(c.holdout, -1, np.where(accepted, 0, np.where(ignored, 2, 1)))
                i = np.flatnonzero(write)
                contacts_out.append(
                    {
                        "i": i,
                        "sent_at": sent[i],
                        "action": act[i],
                        "channel": c.channel[i],
                        "randomized": c.randomized[i],
                        "holdout": c.holdout[i],
                        "prob": c.assignment_prob[i],
                        "outcome": outcome[i],
                    }
                )
        s = step(s, profile, month, rng, adoption, opened_by_offer)
        if t < m:
            active = (profile.join_month <= t) & (churn_month > t)
            monthly.append(_month_rows(s, np.flatnonzero(active), t, month))
        on_month()

    truth = _truth_rows(
        truth_now, intensity, factor, accept_ret, effect_ret, contact_ret, calendar, m
    )
    tables = _assemble(
        profile,
        monthly,
        contacts_out,
        truth,
        churn_month,
        churned_at,
        dormant,
        calendar.ends,
        m,
        chunk,
    )
    last = monthly[-1]
    counts = Counts(
        customers=n,
        customer_months_at_risk=at_risk_months,
        churned=int((churn_month < m).sum()),
        active_at_end=len(last["i"]),
        products_at_end=int(last["has"].sum()),
        retention_contacts=sum(
            int(((c["action"] < N_RETENTION) & ~c["holdout"]).sum()) for c in contacts_out
        ),
        retention_accepted=sum(
            int(((c["action"] < N_RETENTION) & (c["outcome"] == 0)).sum()) for c in contacts_out
        ),
        cross_sell_contacts=sum(
            int(((c["action"] >= N_RETENTION) & ~c["holdout"]).sum()) for c in contacts_out
        ),
        cross_sell_accepted=sum(
            int(((c["action"] >= N_RETENTION) & (c["outcome"] == 0)).sum()) for c in contacts_out
        ),
        randomized_contacts=sum(int((c["randomized"] & ~c["holdout"]).sum()) for c in contacts_out),
        held_out=sum(int(c["holdout"].sum()) for c in contacts_out),
    )
    return ChunkTables(tables, counts)


def _month_rows(s: State, i: np.ndarray, t: int, month: Month) -> dict[str, np.ndarray]:
    """The month's snapshot of the customers ``i`` (indices into the chunk)."""
    return {
        "i": i,
        "t": np.full(len(i), t, np.int32),
        "age": s.age[i],
        "stage": s.stage[i],
        "bal_current": s.bal_current[i],
        "bal_savings": s.bal_savings[i],
        "bal_time_deposit": s.bal_time_deposit[i],
        "bal_wealth": s.bal_wealth[i],
        "bal_loans": s.loans[i].sum(1),
        "inflow": s.inflow[i],
        "outflow": s.outflow[i],
        "salary_credited": s.salary_here[i],
        "salary_amount": s.salary_amount[i],
        "card_spend": s.card_spend[i],
        "tx": s.tx[i],
        "app_logins": s.app_logins[i],
        "last_login": s.last_login[i],
        "complaints_new": s.complaints_new[i],
        "complaints_open": s.complaints_open[i],
        "tickets_new": s.tickets_new[i],
        "tickets_open": s.tickets_open[i],
        "satisfaction": s.satisfaction[i],
        "fees": s.fees[i],
        "bank_rate": np.full(len(i), month.bank_rate),
        "market_rate": np.full(len(i), month.bank_rate + month.rate_gap),
        "life_event": s.life_event[i],
        "has": s.has[i],
    }


def _truth_rows(
    truth_now: list[dict[str, np.ndarray]],
    intensity: np.ndarray,
    factor: np.ndarray,
    accept_ret: np.ndarray,
    effect_ret: np.ndarray,
    contact_ret: np.ndarray,
    calendar: Calendar,
    m: int,
) -> dict[str, np.ndarray]:
    """Truth for each (customer, month end) row: horizon probabilities and offer effects."""
    i = np.concatenate([x["i"] for x in truth_now])
    t = np.concatenate([np.full(len(x["i"]), k) for k, x in enumerate(truth_now)])
    k = np.arange(1, LOOKAHEAD + 1)
    months = t[:, None] + k  # the months the horizon reaches into
    lam = intensity[i[:, None], months]
    f = calendar.fractions[t]
    # factor[:, s + 2] is the contact of month s; month q feels contacts of q-2 .. q.
    realised = (
        factor[i[:, None], months + 2] * factor[i[:, None], months + 1] * factor[i[:, None], months]
    )
    past = np.ones_like(lam)  # contacts made up to t only
    for lag in range(3):
        source = months - lag
        past *= np.where(source <= t[:, None], factor[i[:, None], source + 2], 1.0)
    window = (k <= response.EFFECT_MONTHS).astype(float)
    contact = 1 + (contact_ret[i, t].astype(float)[:, None] - 1) * window
    p0 = horizon_probability(lam, past, f)
    p_contact = horizon_probability(lam, past * contact, f)
    out: dict[str, np.ndarray] = {
        "i": i,
        "t": t,
        "churn_hazard": hazard(lam[:, 0] * past[:, 0]),
        "p_churn": horizon_probability(lam, realised, f),
        "p_churn_no_contact": p0,
        "effect_contact": p_contact - p0,
    }
    acc = accept_ret[i, t].astype(float)
    eff = effect_ret[i, t].astype(float)
    for a, name in enumerate(RETENTION_ACTIONS):
        accepted = horizon_probability(
            lam, past * contact * (1 + (eff[:, a : a + 1] - 1) * window), f
        )
        out[f"effect_{name}"] = acc[:, a] * accepted + (1 - acc[:, a]) * p_contact - p0
    out["p_open"] = np.concatenate([x["p_open"] for x in truth_now])
    out["xsell"] = np.concatenate([x["xsell"] for x in truth_now])
    return out


def _assemble(
    profile: Population,
    monthly: list[dict[str, np.ndarray]],
    contacts: list[dict[str, np.ndarray]],
    truth: dict[str, np.ndarray],
    churn_month: np.ndarray,
    churned_at: np.ndarray,
    dormant: np.ndarray,
    ends: np.ndarray,
    m: int,
    chunk: int,
) -> dict[str, pa.Table]:
    """Sort each table's rows and give them the tables' schemas."""
    ids = profile.customer_id
    tables: dict[str, pa.Table] = {}

    order = np.argsort(ids, kind="stable")
    tables["customers"] = _table(
        {
            "customer_id": ids[order],
            "gender": _strings(profile.gender[order], GENDERS),
            "birth_year": profile.birth_year[order],
            "region": _strings(profile.region[order], REGIONS),
            "branch_id": profile.branch_id[order],
            "city_tier": profile.city_tier[order],
            "income_band": profile.income_band[order],
            "occupation": _strings(profile.occupation[order], OCCUPATIONS),
            "join_date": _ts(profile.join_date[order]),
            "risk_tolerance": profile.risk_tolerance[order],
            "marketing_consent": profile.consent[order],
            "preferred_channel": _strings(profile.channel[order], CHANNELS),
            "digital_adoption": profile.digital[order].astype(np.float32),
        },
        CUSTOMERS,
    )
    tables["truth_customers"] = _table(
        {
            "customer_id": ids[order],
            "response_type": _strings(profile.response_type[order], RESPONSE_TYPES),
            "frailty": profile.frailty[order].astype(np.float32),
            "rate_sensitivity": profile.rate_sensitivity[order].astype(np.float32),
            "fee_sensitivity": profile.fee_sensitivity[order].astype(np.float32),
            "complaint_propensity": profile.complaint_propensity[order].astype(np.float32),
            "offer_affinity": profile.offer_affinity[order].astype(np.float32),
            "salaried": profile.salaried[order],
            "income": profile.income[order].astype(np.float32),
        },
        TRUTH_CUSTOMERS,
    )

    left = np.flatnonzero(churn_month < m)
    left = left[np.argsort(ids[left], kind="stable")]
    tables["churn"] = _table(
        {
            "customer_id": ids[left],
            "churned_at": _ts(churned_at[left]),
            "kind": _strings(np.where(dormant[left], 1, 0), ("closed", "dormant")),
        },
        CHURN,
    )

    cat = {k: np.concatenate([x[k] for x in monthly]) for k in monthly[0]}
    rows = np.lexsort((cat["t"], ids[cat["i"]]))
    cat = {k: v[rows] for k, v in cat.items()}
    month_end = ends[cat["t"]]
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    i16 = lambda a: np.minimum(a, np.iinfo(np.int16).max).astype(np.int16)  # noqa: E731
    i8 = lambda a: np.minimum(a, np.iinfo(np.int8).max).astype(np.int8)  # noqa: E731
    columns: dict[str, pa.Array | np.ndarray] = {
        "customer_id": ids[cat["i"]],
        "month_end": _ts(month_end),
        "age": cat["age"].astype(np.int16),
        **{
            k: f32(cat[k])
            for k in (
                "bal_current",
                "bal_savings",
                "bal_time_deposit",
                "bal_wealth",
                "bal_loans",
                "inflow",
                "outflow",
                "salary_amount",
                "card_spend",
            )
        },
        "salary_credited": cat["salary_credited"],
        "tx_branch": i16(cat["tx"][:, 0]),
        "tx_mobile": i16(cat["tx"][:, 1]),
        "tx_atm": i16(cat["tx"][:, 2]),
        "tx_phone": i16(cat["tx"][:, 3]),
        "app_logins": i16(cat["app_logins"]),
        "last_login_at": _ts(cat["last_login"], null=cat["last_login"] < 0),
        "complaints_new": i8(cat["complaints_new"]),
        "complaints_open": i8(cat["complaints_open"]),
        "tickets_new": i8(cat["tickets_new"]),
        "tickets_open": i8(cat["tickets_open"]),
        "satisfaction": pa.array(f32(cat["satisfaction"]), from_pandas=True),
        "fees_charged": f32(cat["fees"]),
        "bank_rate": f32(cat["bank_rate"]),
        "market_rate": f32(cat["market_rate"]),
        "life_event": _strings(cat["life_event"], LIFE_EVENTS),
        **{f"has_{p}": cat["has"][:, j].copy() for j, p in enumerate(PRODUCTS)},
    }
    tables["monthly"] = _table(columns, MONTHLY)

    # Truth rows are the monthly rows, in the same order.
    key = truth["i"].astype(np.int64) * (m + 1) + truth["t"]
    wanted = cat["i"].astype(np.int64) * (m + 1) + cat["t"]
    pos = np.argsort(key)
    where = pos[np.searchsorted(key, wanted, sorter=pos)]
    tcols: dict[str, pa.Array | np.ndarray] = {
        "customer_id": ids[cat["i"]],
        "month_end": _ts(month_end),
        "stage": cat["stage"].astype(np.int8),
        **{
            c: f32(truth[c][where])
            for c in ("churn_hazard", "p_churn", "p_churn_no_contact", "effect_contact")
        },
        **{f"p_open_{p}": f32(truth["p_open"][where, j]) for j, p in enumerate(PRODUCTS)},
        **{f"effect_{a}": f32(truth[f"effect_{a}"][where]) for a in RETENTION_ACTIONS},
        **{f"effect_xsell_{p}": f32(truth["xsell"][where, j]) for j, p in enumerate(PRODUCTS)},
    }
    tables["truth_monthly"] = _table(tcols, TRUTH_MONTHLY)

    con = {
        k: np.concatenate([x[k] for x in contacts]) if contacts else np.zeros(0)
        for k in ("i", "sent_at", "action", "channel", "randomized", "holdout", "prob", "outcome")
    }
    con["i"] = con["i"].astype(np.int64)
    corder = np.lexsort((con["sent_at"], ids[con["i"]])) if len(con["i"]) else np.zeros(0, int)
    con = {k: v[corder] for k, v in con.items()}
    action = con["action"].astype(np.int32)
    tables["campaigns"] = _table(
        {
            "contact_id": chunk * 1_000_000_000 + np.arange(len(action), dtype=np.int64),
            "customer_id": ids[con["i"]],
            "sent_at": _ts(con["sent_at"]),
            "action_id": _strings(action, ACTIONS),
            "kind": _strings((action >= N_RETENTION).astype(np.int32), ("retention", "cross_sell")),
            "channel": _strings(con["channel"], CHANNELS),
            "randomized": con["randomized"].astype(bool),
            "holdout": con["holdout"].astype(bool),
            "assignment_prob": con["prob"].astype(np.float32),
            "outcome": _strings(con["outcome"], OUTCOMES),
        },
        CAMPAIGNS,
    )
    return tables
