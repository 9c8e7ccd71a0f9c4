"""The plant's local time (issue 13): signatures and printed local dates use the site's
time zone, configured at `mes init` (default from the country), never the host's.

A station PC set to UTC, or a laptop brought from elsewhere, must not change what a
signature says about when it was made.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mes import clock
from mes.errors import InvalidInput
from mes.services.settings import setting
from mes.store.base import Store

# Countries with one civil time zone, for the default at `mes init`; elsewhere the plant
# names its zone with --timezone.
COUNTRY_ZONES = {
    "MA": "Africa/Casablanca", "TN": "Africa/Tunis", "DZ": "Africa/Algiers",
    "EG": "Africa/Cairo", "SN": "Africa/Dakar", "CI": "Africa/Abidjan",
    "FR": "Europe/Paris", "BE": "Europe/Brussels", "NL": "Europe/Amsterdam",
    "DE": "Europe/Berlin", "IT": "Europe/Rome", "CH": "Europe/Zurich",
    "IE": "Europe/Dublin", "GB": "Europe/London", "PL": "Europe/Warsaw",
    "AT": "Europe/Vienna", "CZ": "Europe/Prague", "HU": "Europe/Budapest",
    "SE": "Europe/Stockholm", "DK": "Europe/Copenhagen", "FI": "Europe/Helsinki",
    "RO": "Europe/Bucharest", "TR": "Europe/Istanbul", "IL": "Asia/Jerusalem",
    "IN": "Asia/Kolkata", "CN": "Asia/Shanghai", "JP": "Asia/Tokyo", "KR": "Asia/Seoul",
    "SG": "Asia/Singapore",
}


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"time zone {name!r} is not known: use an IANA name such as "
                           "Africa/Casablanca", field="timezone") from None
    return name


def default_zone(country: str) -> str:
    zone = COUNTRY_ZONES.get(country.upper())
    if zone is None:
        raise InvalidInput(f"country {country} has no single time zone known to mes: pass "
                           "--timezone (an IANA name such as Europe/Lisbon)", field="timezone")
    return zone


def site_zone(store: Store, site_id: str | None = None) -> str:
    """The zone of a site (issue 20: each site has its own); the home site, or a site
    without one: the configured zone (a workspace made before the setting existed: its
    country's)."""
    home = store.get("meta", "site_id")
    home_id = home["value"] if home else None
    if site_id and site_id != home_id:
        row = store.get("sites", site_id)
        if row is not None:
            return str(row.get("timezone") or COUNTRY_ZONES.get(row["country"], "UTC"))
    zone = setting(store, "timezone")
    if zone:
        return str(zone)
    site = store.get("sites", home_id) if home_id else None
    return COUNTRY_ZONES.get(site["country"] if site else "", "UTC")


def local_offset(store: Store, site_id: str | None = None) -> str:
    """The UTC offset at the site now, as +HH:MM (Morocco: +01:00, +00:00 during Ramadan)."""
    return clock.local_offset(site_zone(store, site_id))


def local_date(store: Store, utc_iso: str, site_id: str | None = None) -> date:
    """The calendar day at the site of a recorded UTC time (a label's production date)."""
    return datetime.fromisoformat(utc_iso).astimezone(ZoneInfo(site_zone(store, site_id))).date()
