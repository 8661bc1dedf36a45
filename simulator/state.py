"""A chunk's customers at one month end: everything the monthly step reads and writes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retain.core.tables import PRODUCTS

P = {name: i for i, name in enumerate(PRODUCTS)}
"""Column of each product in the holdings matrix."""
LOANS: tuple[str, ...] = ("personal_loan", "mortgage", "car_loan")
LOAN_COLUMNS = np.array([P[p] for p in LOANS])
DEPOSIT_PRODUCTS = np.array([P["savings"], P["time_deposit"], P["green_deposit"]])

ENGAGED, DRIFTING, LEAVING = 0, 1, 2
"""Latent stages of the relationship: drifting customers move salary and money away first."""


@dataclass(frozen=True)
class State:
    """Arrays over a chunk's customers, as of one month end (flows are the month's)."""

    age: np.ndarray
    stage: np.ndarray  # ENGAGED, DRIFTING or LEAVING (latent)
    income: np.ndarray  # monthly net income (latent)
    salaried: np.ndarray  # income arrives as a salary credit somewhere
    salary_here: np.ndarray  # ... and that somewhere is this bank
    married: np.ndarray
    children: np.ndarray
    retired: np.ndarray
    has: np.ndarray  # bool [n, len(PRODUCTS)]
    boost: np.ndarray  # need raised by recent life events, [n, len(PRODUCTS)], decays
    bal_current: np.ndarray
    bal_savings: np.ndarray  # includes the green deposit pot
    bal_time_deposit: np.ndarray
    td_maturity: np.ndarray  # month index when the time deposit matures
    bal_wealth: np.ndarray
    loans: np.ndarray  # outstanding [n, 3] in LOANS order
    loan_months_left: np.ndarray  # [n, 3]
    inflow: np.ndarray
    outflow: np.ndarray
    salary_amount: np.ndarray
    card_spend: np.ndarray
    tx: np.ndarray  # [n, 4]: branch, mobile, atm, phone
    app_logins: np.ndarray
    last_login: np.ndarray  # int64 microseconds, -1 when never
    complaints_new: np.ndarray
    complaints_open: np.ndarray
    tickets_new: np.ndarray
    tickets_open: np.ndarray
    satisfaction: np.ndarray  # nan when no survey was answered
    fees: np.ndarray
    fee_ref: np.ndarray  # what the customer is used to paying (moving average)
    deposits_ref: np.ndarray  # deposits a few months ago (moving average)
    life_event: np.ndarray  # index into LIFE_EVENTS, -1 for none

    @property
    def deposits(self) -> np.ndarray:
        return self.bal_current + self.bal_savings + self.bal_time_deposit + self.bal_wealth

    @property
    def n_products(self) -> np.ndarray:
        return self.has.sum(1)

    @property
    def fee_shock(self) -> np.ndarray:
        """Fees well above what the customer is used to paying."""
        return self.fees > 1.25 * self.fee_ref + 1.0

    @property
    def engagement(self) -> np.ndarray:
        return self.tx.sum(1) + self.app_logins

    @property
    def low_engagement(self) -> np.ndarray:
        return self.engagement < 4

    @property
    def deposits_fell(self) -> np.ndarray:
        """Deposits fell below 60% of their recent level."""
        return self.deposits < 0.6 * self.deposits_ref

    @property
    def salary_gone(self) -> np.ndarray:
        """The customer earns a salary but it is not paid into this bank."""
        return self.salaried & ~self.salary_here
