"""What a cleaned resource costs a month, in USD: documented list prices per region, and a fallback.

Each kind prices its resources beside its judgement, naming the item AWS bills and the quantity; this
module holds only the figures, one table per region, because they are AWS's billed units, not the kinds':
the EBS snapshot price serves ebs-snapshot and ami, the volume prices ebs-volume and stopped-instance,
and a report states one reading date and one set of priced regions for a whole run. A new kind billed
by one of these items adds nothing here; one billed by a new item adds its figures with their source.

The figures are AWS's public on-demand list prices (no free tier, no discounts, no taxes) from:
  EBS volumes and snapshots   https://aws.amazon.com/ebs/pricing/
  public IPv4 addresses       https://aws.amazon.com/vpc/pricing/ (Public IPv4 Address tab)
  ECR storage                 https://aws.amazon.com/ecr/pricing/
  CloudWatch Logs storage     https://aws.amazon.com/cloudwatch/pricing/ (Logs, Store (Archival))
as of PRICES_READ. Volumes count their storage only: provisioned IOPS and throughput above gp3's
free baseline are left out, so the saving of an io1/io2 or tuned gp3 volume is under-stated.
A region not listed is priced like us-east-1, the cheapest commercial region for these items, so a
saving there is, if anything, under-stated; `listed(region)` lets a report say so.
Prices change: re-read the pages and move PRICES_READ with the figures.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

PRICES_READ = date(2025, 6, 1)
FALLBACK_REGION = "us-east-1"
HOURS_PER_MONTH = 730  # AWS's own month for hourly prices
GIB = 1024**3  # storage is billed per GB-month of 2^30 bytes

Item = Literal[
    "ebs-snapshot-gb",  # standard tier, per GB-month
    "ebs-snapshot-archive-gb",
    "ebs-gp2-gb",
    "ebs-gp3-gb",
    "ebs-io1-gb",
    "ebs-io2-gb",
    "ebs-st1-gb",
    "ebs-sc1-gb",
    "ebs-standard-gb",  # magnetic, previous generation
    "public-ipv4-month",  # $0.005 an hour x 730
    "ecr-gb",
    "logs-gb",
]

_IPV4 = 0.005 * HOURS_PER_MONTH

_US_EAST_1: dict[Item, float] = {
    "ebs-snapshot-gb": 0.05, "ebs-snapshot-archive-gb": 0.0125, "ebs-gp2-gb": 0.10, "ebs-gp3-gb": 0.08,
    "ebs-io1-gb": 0.125, "ebs-io2-gb": 0.125, "ebs-st1-gb": 0.045, "ebs-sc1-gb": 0.015,
    "ebs-standard-gb": 0.05, "public-ipv4-month": _IPV4, "ecr-gb": 0.10, "logs-gb": 0.03,
}  # fmt: skip

MONTHLY_USD: dict[str, dict[Item, float]] = {
    "us-east-1": _US_EAST_1,
    "us-east-2": _US_EAST_1,  # the same list prices as us-east-1
    "us-west-2": _US_EAST_1,
    "eu-west-1": {
        **_US_EAST_1,
        "ebs-gp2-gb": 0.11, "ebs-gp3-gb": 0.088, "ebs-io1-gb": 0.138, "ebs-io2-gb": 0.138,
        "ebs-st1-gb": 0.05, "ebs-sc1-gb": 0.0168, "ebs-standard-gb": 0.055,
    },
    "eu-central-1": {
        **_US_EAST_1,
        "ebs-snapshot-gb": 0.054, "ebs-snapshot-archive-gb": 0.0135, "ebs-gp2-gb": 0.119, "ebs-gp3-gb": 0.0952,
        "ebs-io1-gb": 0.149, "ebs-io2-gb": 0.149, "ebs-st1-gb": 0.054, "ebs-sc1-gb": 0.018,
        "ebs-standard-gb": 0.059, "logs-gb": 0.0324,
    },
}  # fmt: skip


def listed(region: str) -> bool:
    """Whether the region has its own prices (otherwise FALLBACK_REGION's are used)."""
    return region in MONTHLY_USD


def price(item: Item, region: str) -> float:
    """USD a month for one unit of `item` in `region`."""
    return MONTHLY_USD.get(region, MONTHLY_USD[FALLBACK_REGION])[item]


def monthly(item: Item, region: str, quantity: float) -> float:
    """USD a month for `quantity` units (GB, addresses, ...) of `item` in `region`, to the cent's hundredth."""
    return round(price(item, region) * quantity, 4)


def ebs_volume_item(volume_type: str) -> Item:
    """The price item of an EBS volume type (gp2, gp3, io1, io2, st1, sc1, standard); unknown types as gp3."""
    items: dict[str, Item] = {
        "gp2": "ebs-gp2-gb",
        "gp3": "ebs-gp3-gb",
        "io1": "ebs-io1-gb",
        "io2": "ebs-io2-gb",
        "st1": "ebs-st1-gb",
        "sc1": "ebs-sc1-gb",
        "standard": "ebs-standard-gb",
    }
    return items.get(volume_type, "ebs-gp3-gb")
