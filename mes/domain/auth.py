"""Roles, the permission table, and password hashing (DESIGN §5, Part 11 11.10(g))."""

from __future__ import annotations

import hashlib
import hmac
import os

ROLES = ("operator", "technician", "quality", "admin")
MAX_FAILED_LOGINS = 5
SESSION_HOURS = 8
# Part 11 §11.300 (issue 13): defaults of the `password.*` and `session.*` settings.
PASSWORD_MAX_AGE_DAYS = 90
PASSWORD_HISTORY = 5  # a new password may not be any of the last 5 (nor the current one)
PASSWORD_MIN_LENGTH = 10
SESSION_IDLE_MINUTES = 15

# action -> roles allowed. The README prints this table; tests walk it.
PERMISSIONS: dict[str, frozenset[str]] = {
    "user.add": frozenset({"admin"}),
    "user.sites": frozenset({"admin"}),  # limit a user's roles to sites (issue 20)
    "site.add": frozenset({"admin"}),
    "user.qualify": frozenset({"admin", "quality"}),
    "user.unqualify": frozenset({"quality"}),
    "user.unlock": frozenset({"admin"}),
    "user.deactivate": frozenset({"admin"}),
    # Changing one's own password: everyone. Setting someone else's (a reset that forces a
    # change at the next login): admin.
    "user.passwd": frozenset(ROLES),
    "user.reset_password": frozenset({"admin"}),
    "station.add": frozenset({"admin", "technician"}),
    "station.update": frozenset({"admin", "technician"}),
    "station.calibrate": frozenset({"technician", "quality"}),
    "station.impact_hold": frozenset({"quality"}),
    "tool.add": frozenset({"admin", "technician"}),
    "tool.maintain": frozenset({"technician"}),
    "routing.load": frozenset({"technician", "quality", "admin"}),
    # Work instructions and training (issue 18): authored by a technician or quality,
    # approved by quality (signed); a trainer (technician or quality) signs a training.
    "instruction.load": frozenset({"technician", "quality"}),
    "instruction.approve": frozenset({"quality"}),
    "training.record": frozenset({"technician", "quality"}),
    "routing.approve": frozenset({"quality"}),
    "catalog.approve": frozenset({"quality"}),  # a catalog change that needs a signature
    "lot.create": frozenset({"operator", "technician", "quality"}),
    "lot.hold": frozenset({"quality"}),
    "lot.unhold": frozenset({"quality"}),
    "lot.release": frozenset({"quality"}),
    "dhr.review": frozenset({"quality"}),
    "lot.cancel": frozenset({"quality"}),  # signed; a lot with no step recorded
    "lot.adjust": frozenset({"quality"}),  # signed; planned quantity, no step recorded
    "step.record": frozenset({"operator", "technician"}),
    "material.receive": frozenset({"operator", "technician", "quality"}),
    "material.release": frozenset({"quality"}),
    "material.reject": frozenset({"quality"}),
    "material.hold": frozenset({"quality"}),
    "material.moisture": frozenset({"operator", "technician", "quality"}),
    "firmware.register": frozenset({"technician"}),
    "firmware.approve": frozenset({"quality"}),
    "ncr.open": frozenset({"operator", "technician", "quality"}),
    "ncr.disposition": frozenset({"quality"}),
    "ncr.close": frozenset({"quality"}),
    "ship": frozenset({"quality", "technician"}),
    # issue 19: packing by container; unpacking is signed; EPCIS export for customers
    "pack": frozenset({"operator", "technician", "quality"}),
    "unpack": frozenset({"technician", "quality"}),
    "epcis.export": frozenset({"quality", "admin"}),
    "label.print": frozenset({"operator", "technician", "quality"}),
    # Issue 17: label templates are controlled documents, loaded as drafts, approved by
    # quality (signed, not by who loaded them); a print job's first article is approved
    # or rejected (signed) by someone on the line before the rest prints.
    "label.template_load": frozenset({"technician", "quality", "admin"}),
    "label.template_approve": frozenset({"quality"}),
    "label.first_article": frozenset({"operator", "technician", "quality"}),
    # Deciding origin is quality's, signed; a label print pins the decision it relies on.
    "origin.decide": frozenset({"quality"}),
    "recall": frozenset({"quality"}),
    "import.machine": frozenset({"operator", "technician"}),
    # SPC control limits (issue 16): set from a phase-I study, approved by someone else.
    "spc.limits": frozenset({"technician", "quality"}),
    "spc.approve": frozenset({"quality"}),
    "config.set": frozenset({"admin"}),
    "audit.alerts": frozenset({"quality", "admin"}),
    "backup": frozenset({"admin", "quality"}),
    "db.migrate": frozenset({"admin"}),
    "db.copy": frozenset({"admin"}),
}

# What each permission lets a user do, as a refusal says it ("may not release lots").
ACTION_WORDS: dict[str, str] = {
    "user.add": "add users", "user.sites": "limit users to sites", "site.add": "add sites",
    "user.qualify": "qualify users",
    "user.unlock": "unlock users", "user.deactivate": "deactivate users",
    "station.add": "add stations", "station.update": "update stations",
    "routing.load": "load routings", "routing.approve": "approve routings",
    "catalog.approve": "approve catalog changes",
    "lot.create": "create lots", "lot.hold": "put items on hold",
    "lot.unhold": "take items off hold", "lot.release": "release lots",
    "lot.cancel": "cancel lots", "lot.adjust": "adjust planned quantities",
    "dhr.review": "review DHRs",
    "step.record": "record steps", "material.receive": "receive material",
    "material.release": "release material", "material.reject": "reject material",
    "material.hold": "put material on hold", "firmware.register": "register firmware",
    "firmware.approve": "approve firmware", "ncr.open": "open NCRs",
    "ncr.disposition": "disposition NCRs", "ncr.close": "close NCRs", "ship": "ship lots",
    "label.print": "print labels", "origin.decide": "record origin decisions",
    "recall": "open or close recalls", "import.machine": "import machine files",
    "config.set": "change settings", "backup": "back up the database",
    "db.migrate": "migrate the database", "db.copy": "copy the database",
    "audit.alerts": "read the alerts", "epcis.export": "export EPCIS events",
    "pack": "pack units", "unpack": "unpack containers",
    "spc.limits": "set SPC control limits", "spc.approve": "approve SPC control limits",
    "user.passwd": "change passwords", "user.reset_password": "reset passwords",
    "user.unqualify": "revoke qualifications",
    "station.calibrate": "record calibrations",
    "station.impact_hold": "hold a station's calibration impact",
    "tool.add": "register tools", "tool.maintain": "record tool maintenance",
    "material.moisture": "record moisture events of reels",
    "label.template_load": "load label templates",
    "label.template_approve": "approve label templates",
    "label.first_article": "approve or reject a first-article label",
    "instruction.load": "load work instructions",
    "instruction.approve": "approve work instructions",
    "training.record": "record training",
}


def action_words(action: str) -> str:
    return ACTION_WORDS.get(action, action)


def roles_words(action: str) -> str:
    """'quality', 'operator or technician', 'operator, technician or quality'."""
    roles = sorted(PERMISSIONS.get(action, ()))
    if not roles:
        return "nobody"
    return roles[0] if len(roles) == 1 else f"{', '.join(roles[:-1])} or {roles[-1]}"


# Recording a step needs a valid qualification for the station type as well.
QUALIFIED_ACTIONS = frozenset({"step.record"})


def allowed(role: str, action: str) -> bool:
    return role in PERMISSIONS.get(action, frozenset())


def site_allowed(sites: tuple[str, ...] | None, site: str | None) -> bool:
    """A role limited to some sites (issue 20) acts for those only; None: every site. An
    act with no site (no station, no lot) is not limited."""
    return sites is None or site is None or site in sites


def hash_password(password: str, salt: bytes | None = None) -> tuple[str, str]:
    """scrypt with a per-user salt; returns (salt_hex, hash_hex)."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return salt.hex(), digest.hex()


def check_password(password: str, salt_hex: str, hash_hex: str) -> bool:
    _, digest = hash_password(password, bytes.fromhex(salt_hex))
    return hmac.compare_digest(digest, hash_hex)


def password_problem(password: str, username: str | None = None) -> str | None:
    """The minimum strength (Part 11 §11.300): long enough, letters and something else."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"a password needs at least {PASSWORD_MIN_LENGTH} characters"
    if not any(c.isalpha() for c in password) or all(c.isalpha() for c in password):
        return "a password needs letters and at least one digit or symbol"
    if len(set(password)) < 4:
        return "a password needs more than three different characters"
    if username and password.lower() == username.lower():
        return "a password may not be the user name"
    return None


def reuses(password: str, previous: list[tuple[str, str]]) -> bool:
    """Whether `password` is one of the (salt, hash) pairs given (the history)."""
    return any(check_password(password, salt, digest) for salt, digest in previous)


def token_digest(token: str) -> str:
    """Sessions are stored by the sha256 of their token: reading the database is not
    enough to act as someone."""
    return hashlib.sha256(token.encode()).hexdigest()
