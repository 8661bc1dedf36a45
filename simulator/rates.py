"""Headline rates of a simulated bank: what the CLI prints and the README quotes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Counts:
    """Totals gathered while simulating; chunks add up."""

    customers: int = 0
    customer_months_at_risk: int = 0  # months a customer could have left in
    churned: int = 0
    active_at_end: int = 0
    products_at_end: int = 0  # products held by the customers active in the last month
    retention_contacts: int = 0
    retention_accepted: int = 0
    cross_sell_contacts: int = 0
    cross_sell_accepted: int = 0
    randomized_contacts: int = 0
    held_out: int = 0  # audience members held out of the contact (logged, not contacted)

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True)
class HeadlineRates:
    """Rates a reader compares with a real bank.

    Attributes:
        monthly_churn: leavers per customer-month at risk.
        annual_attrition: ``1 - (1 - monthly_churn) ** 12``.
        products_per_customer: mean products held by customers active in the last month.
        retention_response: accepted retention offers per retention contact.
        cross_sell_response: accepted cross-sell offers per cross-sell contact.
        randomized_share: share of contacts assigned by the randomised experiment.
        holdout_share: share of the campaigns' audiences held out of the contact at random.
    """

    monthly_churn: float
    annual_attrition: float
    products_per_customer: float
    retention_response: float
    cross_sell_response: float
    randomized_share: float
    holdout_share: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def headline_rates(counts: Counts) -> HeadlineRates:
    """Headline rates from a simulation's totals."""
    monthly = _ratio(counts.churned, counts.customer_months_at_risk)
    contacts = counts.retention_contacts + counts.cross_sell_contacts
    return HeadlineRates(
        monthly_churn=monthly,
        annual_attrition=1 - (1 - monthly) ** 12,
        products_per_customer=_ratio(counts.products_at_end, counts.active_at_end),
        retention_response=_ratio(counts.retention_accepted, counts.retention_contacts),
        cross_sell_response=_ratio(counts.cross_sell_accepted, counts.cross_sell_contacts),
        randomized_share=_ratio(counts.randomized_contacts, contacts),
        holdout_share=_ratio(counts.held_out, contacts + counts.held_out),
    )
