"""The residential tiered tariff (pure Python, no database).

Monthly consumption is billed in tiers, each kWh at the price of the tier it falls in, as
the tiered residential tariffs of Chinese grid companies do (first tier for basic needs,
dearer second and third tiers). Money is Decimal and rounded to the fen at the end only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")


@dataclass(frozen=True)
class Tier:
    up_to_kwh: Decimal | None  # None: no upper bound (the last tier)
    price: Decimal             # CNY per kWh


# A published-style tariff: 0-230 kWh, 231-400 kWh, above 400 kWh per month.
RESIDENTIAL = (
    Tier(Decimal("230"), Decimal("0.4883")),
    Tier(Decimal("400"), Decimal("0.5383")),
    Tier(None, Decimal("0.7883")),
)


def validate_tariff(tiers) -> None:
    if not tiers:
        raise ValueError("a tariff needs at least one tier")
    previous = Decimal(0)
    for i, tier in enumerate(tiers):
        last = i == len(tiers) - 1
        if tier.up_to_kwh is None and not last:
            raise ValueError(f"tier {i + 1} has no upper bound but is not the last")
        if tier.up_to_kwh is not None and tier.up_to_kwh <= previous:
            raise ValueError(f"tier {i + 1} must end above {previous} kWh")
        if tier.price < 0:
            raise ValueError(f"tier {i + 1} has a negative price")
        previous = tier.up_to_kwh if tier.up_to_kwh is not None else previous
    if tiers[-1].up_to_kwh is not None:
        raise ValueError("the last tier must have no upper bound")


def bill(kwh, tiers=RESIDENTIAL) -> dict:
    """The bill for one month's consumption: total and the kWh and amount per tier."""
    kwh = Decimal(str(kwh))
    if kwh < 0:
        raise ValueError("consumption cannot be negative")
    validate_tariff(tiers)
    lines, lower, total = [], Decimal(0), Decimal(0)
    for number, tier in enumerate(tiers, start=1):
        upper = tier.up_to_kwh if tier.up_to_kwh is not None else max(kwh, lower)
        used = max(Decimal(0), min(kwh, upper) - lower)
        amount = used * tier.price
        lines.append({"tier": number, "kwh": str(used), "price": str(tier.price),
                      "amount": str(amount.quantize(FEN, ROUND_HALF_UP))})
        total += amount
        lower = upper
    return {"kwh": str(kwh), "total": str(total.quantize(FEN, ROUND_HALF_UP)), "tiers": lines}
