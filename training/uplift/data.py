"""The uplift dataset: randomised contacts and no-contact customer-months, labelled with churn.

Rows (one per customer and time ``event_timestamp``) and their ``arm``:

- a retention action code: a contact of the bank's randomised experiment with that action;
- ``cross_sell``: a randomised cross-sell contact (the churn effect of a bare contact);
- ``none``: a customer-month in which the customer could have been contacted (marketing consent,
  no contact in the month nor in the ``COOLDOWN_MONTHS`` before it, as the bank's policy requires)
  and was not; its time is drawn uniformly in the month, like a send time.

Contacts chosen by the bank's targeting rules are left out of a log without holdouts: who got
them depends on the customer's risk signs, so they are no experiment. No-contact months are not an
experiment either (the rules contact half the customers showing a risk sign), but the rules read
only the month-end snapshot that the features also hold, so a model conditioned on the features is
not confounded.

A log with randomised holdouts (``campaigns.holdout``: audience members held out of the contact at
random, logged with their ``assignment_prob``) adds, per ``design`` cell:

- ``experiment``: its held-out members, as ``none`` rows (the experiment's no-contact arm);
- ``rules``: the rules' retention contacts, as their action's rows, and the rules' held-out
  members, as ``none`` rows: inside a rule audience, contacted and held out differ only by a coin.

Every row carries a ``weight``: in a randomised cell (the experiment; each rule audience, i.e. the
rules' action), the inverse of its logged ``assignment_prob``, normalised to mean 1 over the cell's
rows of the log, so that the contacted and the held-out rows of an audience each stand for the
whole audience (inverse propensity weighting); 1 for no-contact months and in a log without
holdouts. ``design`` is ``experiment``, ``rules`` or ``months`` (the no-contact months).

``label`` is 1 when the customer churned within ``(event_timestamp, event_timestamp + horizon]``;
rows whose horizon ends after the data, and rows of customers gone by ``event_timestamp``, are
dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from retain.core.churn import ChurnDefinition
from retain.core.columns import KEY, LABEL
from retain.core.errors import DataError
from retain.core.progress import Progress, silent
from retain.core.settings import Settings
from retain.core.tables import RETENTION_ACTIONS

TIME = "event_timestamp"
ARM = "arm"
WEIGHT = "weight"
DESIGN = "design"
HOLDOUT = "holdout"
HELD_OUT = "held_out"
"""The experiment's holdouts in ``evaluation_arms``: its randomised no-contact arm."""
OFFER = "offer"
"""The offer the log assigned a row (``action_id``; contacted or held out alike); "" for the
no-contact months."""
MATCHED = f"{HELD_OUT}:{{action}}"
"""``ranker_metrics``' control for ``matched_arms``: each action's own audiences' holdouts."""
NONE = "none"
CROSS_SELL = "cross_sell"
COOLDOWN_MONTHS = 2
"""Months after a contact in which the bank's policy makes no other contact."""
MAX_CONTROLS = 300_000
"""No-contact rows kept at most (a seeded sample): beyond this the control model gains little."""


def _month_index(times: pd.Series) -> np.ndarray:
    t = pd.to_datetime(times, utc=True)
    return (t.dt.year * 12 + t.dt.month - 1).to_numpy(dtype=np.int64)


def _keys(ids: np.ndarray, month: np.ndarray) -> np.ndarray:
    """One integer per (customer, month index); month indices are below 10**6."""
    return ids * 1_000_000 + month


def _design_weights(campaigns: pd.DataFrame) -> np.ndarray:
    """Inverse logged assignment probabilities, normalised to mean 1 within each randomised cell
    (the experiment; the rules' audience of each action)."""
    randomized = campaigns["randomized"].fillna(False).astype(bool).to_numpy()
    cell = np.where(randomized, "experiment", "rules:" + campaigns["action_id"].astype(str))
    prob = pd.to_numeric(campaigns["assignment_prob"], errors="coerce").to_numpy(np.float64)
    inverse = pd.Series(np.where(prob > 0, 1.0 / prob, np.nan))
    mean = inverse.groupby(cell).transform("mean").to_numpy()
    return np.asarray(np.nan_to_num(inverse.to_numpy() / mean, nan=1.0), dtype=np.float64)


def randomised_contacts(campaigns: pd.DataFrame) -> pd.DataFrame:
    """The rows the campaign log gives: ``customer_id``, ``event_timestamp`` (sent), ``arm``,
    ``design`` and ``weight``.

    Without a ``holdout`` column (a log with no holdouts): the experiment's contacts, weight 1.
    With it: the experiment's contacts and holdouts, and the rules' retention contacts and
    holdouts, weighted by their logged assignment probabilities (see the module's docstring).
    """
    randomized = campaigns["randomized"].fillna(False).astype(bool).to_numpy()
    if HOLDOUT in campaigns:
        held = campaigns[HOLDOUT].fillna(False).astype(bool).to_numpy()
        weight = _design_weights(campaigns)
    else:
        held, weight = np.zeros(len(campaigns), bool), np.ones(len(campaigns))
    retention = (campaigns["kind"] == "retention").to_numpy()
    arm = np.where(held, NONE, np.where(retention, campaigns["action_id"], CROSS_SELL))
    keep = randomized | ((HOLDOUT in campaigns) & (held | retention))
    out = pd.DataFrame(
        {
            KEY: campaigns[KEY].astype("int64").to_numpy(),
            TIME: pd.to_datetime(campaigns["sent_at"], utc=True).to_numpy(),
            ARM: arm,
            DESIGN: np.where(randomized, "experiment", "rules"),
            WEIGHT: weight,
            OFFER: campaigns["action_id"].astype(str).to_numpy(),
        }
    )[keep]
    out[TIME] = pd.to_datetime(out[TIME], utc=True)
    return out[out[ARM].isin([*RETENTION_ACTIONS, CROSS_SELL, NONE])].reset_index(drop=True)


def control_months(
    monthly: pd.DataFrame,
    customers: pd.DataFrame,
    campaigns: pd.DataFrame,
    seed: int = 7,
    cooldown_months: int = COOLDOWN_MONTHS,
) -> pd.DataFrame:
    """Customer-months the bank could have used for a contact and did not.

    Args:
        monthly: ``customer_id``, ``month_end`` of the raw monthly table (the customer is with the
            bank at the end of the month before the candidate month).
        customers: ``customer_id``, ``marketing_consent``.
        campaigns: ``customer_id``, ``sent_at`` of every contact (randomised or not) and holdout.
        seed: draws the time inside the month.
        cooldown_months: months before the candidate month that must be free of contacts.

    Returns:
        ``customer_id``, ``event_timestamp`` (uniform in the month after the snapshot), ``arm``,
        ``design`` (``months``), ``weight`` (1).
    """
    consent = customers.drop_duplicates(KEY).set_index(KEY)["marketing_consent"]
    rows = monthly[monthly[KEY].map(consent).fillna(False).astype(bool).to_numpy()]
    ids = rows[KEY].to_numpy(dtype=np.int64)
    month = _month_index(rows["month_end"]) + 1  # the candidate month follows the snapshot
    contacted = _keys(campaigns[KEY].to_numpy(dtype=np.int64), _month_index(campaigns["sent_at"]))
    busy = np.zeros(len(ids), dtype=bool)
    for lag in range(cooldown_months + 1):
        busy |= np.isin(_keys(ids, month - lag), contacted)
    ids, month = ids[~busy], month[~busy]
    start = pd.to_datetime(
        pd.DataFrame({"year": month // 12, "month": month % 12 + 1, "day": 1}), utc=True
    )
    days = start.dt.days_in_month.to_numpy()
    rng = np.random.default_rng(seed)
    offset = pd.to_timedelta(np.floor(rng.random(len(ids)) * days * 86400), unit="s")
    out = pd.DataFrame(
        {KEY: ids, TIME: start + offset, ARM: NONE, DESIGN: "months", WEIGHT: 1.0, OFFER: ""}
    )
    return out.reset_index(drop=True)


def label_rows(
    rows: pd.DataFrame,
    churned_at: pd.Series,
    data_end: pd.Timestamp,
    definition: ChurnDefinition | None = None,
) -> pd.DataFrame:
    """Label rows with churn within the horizon after ``event_timestamp``.

    Args:
        rows: ``customer_id``, ``event_timestamp`` and any other columns (kept).
        churned_at: each churned customer's churn time, indexed by ``customer_id``.
        data_end: the last time the data covers; rows whose horizon ends later are dropped.
        definition: the churn definition (default: ``ChurnDefinition()``).

    Returns:
        The labelled rows with ``label`` (int8); rows of customers who had churned by their
        ``event_timestamp`` are dropped.
    """
    definition = definition or ChurnDefinition()
    times = pd.to_datetime(rows[TIME], utc=True)
    gone = pd.to_datetime(rows[KEY].map(churned_at), utc=True)
    keep = definition.is_labelled(times, data_end) & (gone.isna() | (gone > times))
    out = rows[keep.to_numpy()].copy()
    out[LABEL] = definition.label(times[keep], gone[keep]).to_numpy()
    return out.reset_index(drop=True)


def uplift_rows(
    campaigns: pd.DataFrame,
    monthly: pd.DataFrame,
    customers: pd.DataFrame,
    churn: pd.DataFrame,
    definition: ChurnDefinition | None = None,
    seed: int = 7,
    max_controls: int = MAX_CONTROLS,
) -> pd.DataFrame:
    """Labelled rows of the campaign log (``randomised_contacts``) plus (a sample of) no-contact
    months, sorted by time and customer. The data ends at the latest monthly snapshot.

    Args:
        campaigns: ``customer_id``, ``sent_at``, ``action_id``, ``kind``, ``randomized``, and,
            in a log with holdouts, ``holdout`` and ``assignment_prob``.
    """
    if monthly.empty:
        raise DataError("the raw monthly table has no rows")
    data_end = pd.to_datetime(monthly["month_end"], utc=True).max()
    churned_at = pd.to_datetime(churn.groupby(KEY)["churned_at"].min(), utc=True)
    contacts = label_rows(randomised_contacts(campaigns), churned_at, data_end, definition)
    controls = label_rows(
        control_months(monthly, customers, campaigns, seed), churned_at, data_end, definition
    )
    if len(controls) > max_controls:
        controls = controls.sample(max_controls, random_state=seed)
    rows = pd.concat([contacts, controls], ignore_index=True)
    return rows.sort_values([TIME, KEY, ARM], kind="stable", ignore_index=True)


def evaluation_arms(rows: pd.DataFrame) -> np.ndarray:
    """Each row's arm for the Qini and AUUC, which compare randomised rows only: the rules' rows
    become ``rules`` (no metric's arm) and the experiment's holdouts ``held_out``."""
    arm = rows[ARM].to_numpy().astype(str).copy()
    if DESIGN in rows:
        design = rows[DESIGN].to_numpy().astype(str)
        arm[design == "rules"] = "rules"
        arm[(design == "experiment") & (arm == NONE)] = HELD_OUT
    return arm


def matched_arms(rows: pd.DataFrame) -> np.ndarray:
    """Each row's arm for the Qini and AUUC against the holdouts of the same offer (control
    ``MATCHED``), over every randomised audience of the log: the experiment's and each rule's.

    Inside an audience the log assigned one offer and then held a fixed share out by a coin (15%
    in the experiment and in every rule audience of the simulated bank), so an offer's contacts
    and the holdouts assigned that offer differ only by the coin, in every audience alike: the
    rules' audiences join the experiment's without weights. Contacted rows keep their arm, a
    held-out row becomes ``held_out:<offer>``, the no-contact months ``none``.
    """
    arm = rows[ARM].to_numpy().astype(str).copy()
    if DESIGN not in rows or OFFER not in rows:
        return arm
    design = rows[DESIGN].to_numpy().astype(str)
    offer = rows[OFFER].fillna("").to_numpy().astype(str)
    held = (design != "months") & (arm == NONE)
    out = arm.astype(object)
    out[held] = [f"{HELD_OUT}:{o}" for o in offer[held]]
    return out.astype(str)


def arm_counts(rows: pd.DataFrame) -> dict[str, int]:
    """Rows and churners per arm: ``n_<arm>`` and ``churners_<arm>``."""
    out: dict[str, int] = {}
    for arm, group in rows.groupby(ARM, sort=True):
        out[f"n_{arm}"] = int(len(group))
        out[f"churners_{arm}"] = int(group[LABEL].sum())
    return out


@dataclass(frozen=True)
class UpliftSplit:
    """Train on contacts sent before ``test_start - horizon``, test on those from ``test_start``."""

    test_start: pd.Timestamp
    horizon: pd.Timedelta

    def masks(self, rows: pd.DataFrame) -> dict[str, np.ndarray]:
        times = pd.to_datetime(rows[TIME], utc=True)
        return {
            "train": (times + self.horizon <= self.test_start).to_numpy(),
            "test": (times >= self.test_start).to_numpy(),
        }

    def windows(self, rows: pd.DataFrame) -> dict[str, str]:
        times = pd.to_datetime(rows[TIME], utc=True)
        out = {}
        for name, mask in self.masks(rows).items():
            t = times[mask]
            out[f"{name}_window"] = f"{t.min():%Y-%m-%d}..{t.max():%Y-%m-%d}" if len(t) else "-"
        return out


def time_split(rows: pd.DataFrame, horizon_days: int, test_months: int) -> UpliftSplit:
    """Test on the latest ``test_months`` months with a labelled row; train ends a horizon before.

    Raises:
        DataError: too few months for a train window before the test window.
    """
    times = pd.to_datetime(rows[TIME], utc=True)
    months = np.unique(_month_index(times))
    horizon = pd.Timedelta(days=horizon_days)
    if len(months) == 0:
        raise DataError("no labelled contacts: simulate or ingest a longer campaign history")
    first = months[max(0, len(months) - test_months)]
    test_start = pd.Timestamp(year=int(first // 12), month=int(first % 12 + 1), day=1, tz="UTC")
    split = UpliftSplit(test_start, horizon)
    if not split.masks(rows)["train"].any():
        raise DataError(
            f"only {len(months)} months of labelled contacts: no room for a train window before "
            f"{test_months} test months and a {horizon_days}-day gap; use a longer history"
        )
    return split


def load_rows(
    settings: Settings,
    definition: ChurnDefinition | None = None,
    seed: int = 7,
    max_controls: int = MAX_CONTROLS,
) -> pd.DataFrame:
    """``uplift_rows`` from the raw tables under the settings' home (the I/O edge)."""
    from features.build import read_raw_table

    raw = settings.raw_dir
    columns = ["customer_id", "sent_at", "action_id", "kind", "randomized"]
    if _has_holdouts(raw):
        columns += [HOLDOUT, "assignment_prob"]
    return uplift_rows(
        campaigns=read_raw_table(raw, "campaigns", columns),
        monthly=read_raw_table(raw, "monthly", ["customer_id", "month_end"]),
        customers=read_raw_table(raw, "customers", ["customer_id", "marketing_consent"]),
        churn=read_raw_table(raw, "churn", ["customer_id", "churned_at"]),
        definition=definition,
        seed=seed,
        max_controls=max_controls,
    )


def _has_holdouts(raw: Path) -> bool:
    """Whether the raw campaign log records holdouts (a log written before them does not)."""
    from features.build import read_schema

    parts = sorted((raw / "campaigns").glob("*.parquet"))
    return bool(parts) and HOLDOUT in read_schema(parts[0]).names


def load_frame(
    settings: Settings,
    service: str = "churn_v1",
    definition: ChurnDefinition | None = None,
    seed: int = 7,
    max_controls: int = MAX_CONTROLS,
    progress: Progress = silent,
) -> tuple[pd.DataFrame, list[str]]:
    """The labelled rows with the service's features at each ``event_timestamp``.

    Returns:
        (frame sorted by time and customer, the service's feature names in order).

    Raises:
        NotReadyError: the feature store has not been applied.
        DataError: raw tables are missing or corrupt.
    """
    from features.frames import entity_frame, feature_names

    features = feature_names(settings, service)
    rows = load_rows(settings, definition, seed, max_controls)
    frame = entity_frame(settings, rows, service, progress)
    frame = frame.sort_values([TIME, KEY, ARM], kind="stable", ignore_index=True)
    return frame, features
