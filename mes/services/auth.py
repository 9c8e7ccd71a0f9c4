"""Users, sessions, authority checks and electronic signatures (Part 11 §11.10(g), 11.50-11.300)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from mes import clock
from mes.domain import auth as rules
from mes.domain.audit import record_hash
from mes.domain.ids import check_id
from mes.errors import InvalidInput, NotAuthorised, NotFound, Refused
from mes.services.context import Actor, Context
from mes.store.base import Store


def authenticate(store: Store, username: str, password: str, *, station: str | None = None
                 ) -> Actor:
    """Check a password; count failures and lock after 5 (each audited, committed)."""
    user = store.get("users", username)
    if user is None or not user["active"]:
        _audit_denied(store, username, station, "login", "unknown or inactive user")
        raise NotAuthorised(f"unknown user {username!r}: check the name or ask an admin")
    if user["locked"]:
        _audit_denied(store, username, station, "login", "account locked")
        raise NotAuthorised(f"account {username} is locked after "
                            f"{rules.MAX_FAILED_LOGINS} failed attempts: ask an admin to unlock it")
    if not rules.check_password(password, user["pw_salt"], user["pw_hash"]):
        with store.transaction():
            # Counted in SQL under the write lock: two stations failing at once both count.
            failed = int(store.scalar(
                "UPDATE users SET failed_logins = failed_logins + 1 WHERE username = ? "
                "RETURNING failed_logins", (username,)))
            store.touch("users", (username,))
            lock = failed >= rules.MAX_FAILED_LOGINS
            if lock:
                store.update("users", username, {"locked": True})
            store.append_audit(username=username, station=station, action="user.login_failed",
                               entity_type="user", entity_id=username,
                               old={"failed_logins": failed - 1},
                               new={"failed_logins": failed, "locked": lock})
        left = rules.MAX_FAILED_LOGINS - failed
        hint = "the account is now locked: ask an admin" if lock else f"{left} attempts left"
        raise NotAuthorised(f"wrong password for {username}: {hint}")
    if user["failed_logins"]:
        with store.transaction():
            store.update("users", username, {"failed_logins": 0})
    return Actor(username, user["role"], user["full_name"])


def _audit_denied(store: Store, username: str | None, station: str | None, action: str,
                  why: str) -> None:
    with store.transaction():
        store.append_audit(username=username, station=station, action="auth.denied",
                           entity_type="action", entity_id=action, reason=why)


def current_actor(ctx: Context) -> Actor:
    """The authenticated user: --user with a password, else the station session."""
    if ctx._actor is not None:
        return ctx._actor
    store = ctx.store
    if ctx.user:
        ctx._actor = authenticate(store, ctx.user, ctx.password(f"password for {ctx.user}: "),
                                  station=ctx.station)
        return ctx._actor
    token = _read_session_token(ctx)
    if token is None:
        raise NotAuthorised("not logged in: run `mes login USER` at this station "
                            "(or pass --user USER --password-stdin)")
    session = store.get("sessions", token)
    if session is None or session["ended_at"]:
        raise NotAuthorised("the station session has ended: run `mes login USER`")
    if session["expires_at"] < clock.now_iso():
        raise NotAuthorised("the station session expired (8 h): run `mes login USER` again")
    user = store.get("users", session["username"])
    if user is None or not user["active"] or user["locked"]:
        raise NotAuthorised(f"user {session['username']} can no longer act: ask an admin")
    ctx._actor = Actor(user["username"], user["role"], user["full_name"])
    if ctx.station is None:
        ctx.station = session["station"]
    return ctx._actor


def require(ctx: Context, action: str) -> Actor:
    """Authenticate and check the permission table; a refusal is audited, then raised."""
    actor = current_actor(ctx)
    if not rules.allowed(actor.role, action):
        roles = ", ".join(sorted(rules.PERMISSIONS.get(action, ()))) or "nobody"
        _audit_denied(ctx.store, actor.username, ctx.station, action,
                      f"role {actor.role} may not {action}")
        raise NotAuthorised(f"{actor.username} ({actor.role}) may not {action}: "
                            f"it needs the role {roles}")
    return actor


def require_qualified(ctx: Context, actor: Actor, station_type: str) -> None:
    from mes.domain.interlocks import check_qualified

    rows = ctx.store.find("qualifications", {"username": actor.username,
                                             "station_type": station_type})
    try:
        check_qualified(actor.username, station_type, [r["valid_until"] for r in rows],
                        clock.now().date())
    except NotAuthorised as exc:
        _audit_denied(ctx.store, actor.username, ctx.station, f"step on {station_type}",
                      exc.message)
        raise


def _read_session_token(ctx: Context) -> str | None:
    try:
        return ctx.session_path.read_text().strip() or None
    except FileNotFoundError:
        return None


# -- users -----------------------------------------------------------------------------

def create_user(store: Store, *, username: str, full_name: str, role: str, password: str,
                created_by: str | None, station: str | None = None) -> None:
    """Inside the caller's transaction. User names are never reused (Part 11 11.300(a))."""
    check_user_fields(username, full_name, role, password)
    if store.get("users", username):
        raise Refused(f"user name {username} is taken (names are never reused): choose another")
    salt, digest = rules.hash_password(password)
    store.insert("users", {"username": username, "full_name": full_name, "role": role,
                           "pw_salt": salt, "pw_hash": digest, "created_at": clock.now_iso(),
                           "created_by": created_by})
    store.append_audit(username=created_by, station=station, action="user.add",
                       entity_type="user", entity_id=username,
                       new={"full_name": full_name, "role": role})


def check_user_fields(username: str, full_name: str, role: str, password: str) -> None:
    if not username.isascii() or not username.replace("-", "").replace(".", "").isalnum() \
            or not username.islower() or len(username) > 32:
        raise InvalidInput(f"user name {username!r}: use lower-case letters, digits, '.' or '-'",
                           field="username")
    if role not in rules.ROLES:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(rules.ROLES)}", field="role")
    if not full_name.strip():
        raise InvalidInput("a user needs a printed full name (--name): it appears on signatures",
                           field="name")
    problem = rules.password_problem(password)
    if problem:
        raise InvalidInput(problem, field="password")


def add_user(ctx: Context, username: str, full_name: str, role: str, password: str) -> None:
    actor = require(ctx, "user.add")
    with ctx.store.transaction() as tx:
        create_user(tx, username=username, full_name=full_name, role=role, password=password,
                    created_by=actor.username, station=ctx.station)


def qualify(ctx: Context, username: str, station_type: str, until: date) -> None:
    actor = require(ctx, "user.qualify")
    store = ctx.store
    if store.get("users", username) is None:
        raise NotFound(f"no user {username}: add it with `mes user add`")
    check_id(station_type.upper(), "station type")
    with store.transaction():
        store.insert("qualifications", {"username": username, "station_type": station_type,
                                        "valid_until": until.isoformat(),
                                        "granted_by": actor.username,
                                        "granted_at": clock.now_iso()})
        store.append_audit(username=actor.username, station=ctx.station, action="user.qualify",
                           entity_type="user", entity_id=username,
                           new={"station_type": station_type, "valid_until": until.isoformat()})


def unlock(ctx: Context, username: str) -> None:
    actor = require(ctx, "user.unlock")
    user = ctx.store.get("users", username)
    if user is None:
        raise NotFound(f"no user {username}")
    with ctx.store.transaction() as tx:
        tx.update("users", username, {"locked": False, "failed_logins": 0})
        tx.append_audit(username=actor.username, station=ctx.station, action="user.unlock",
                        entity_type="user", entity_id=username,
                        old={"locked": bool(user["locked"])}, new={"locked": False})


def deactivate(ctx: Context, username: str, reason: str) -> None:
    """A user who leaves keeps every record and signature; the name is never reused."""
    actor = require(ctx, "user.deactivate")
    if not reason.strip():
        raise InvalidInput("deactivating a user needs a --reason", field="reason")
    user = ctx.store.get("users", username)
    if user is None:
        raise NotFound(f"no user {username}")
    if not user["active"]:
        raise Refused(f"user {username} is already inactive")
    if username == actor.username:
        raise Refused("you cannot deactivate yourself: ask another admin")
    with ctx.store.transaction() as tx:
        tx.update("users", username, {"active": False})
        tx.exec("UPDATE sessions SET ended_at = ? WHERE username = ? AND ended_at IS NULL",
                (clock.now_iso(), username))
        tx.append_audit(username=actor.username, station=ctx.station,
                        action="user.deactivate", entity_type="user", entity_id=username,
                        old={"active": True}, new={"active": False}, reason=reason)


def list_users(ctx: Context) -> list[dict[str, Any]]:
    rows = ctx.store.find("users", order="username")
    quals = ctx.store.find("qualifications", order="station_type")
    out = []
    for r in rows:
        q = {x["station_type"]: x["valid_until"] for x in quals if x["username"] == r["username"]}
        out.append({"username": r["username"], "full_name": r["full_name"], "role": r["role"],
                    "active": bool(r["active"]), "locked": bool(r["locked"]),
                    "qualifications": q})
    return out


# -- sessions --------------------------------------------------------------------------

def login(ctx: Context, username: str, station: str | None) -> dict[str, Any]:
    store = ctx.store
    if station and store.get("stations", station) is None:
        raise NotFound(f"station {station} is not registered")
    actor = authenticate(store, username, ctx.password(f"password for {username}: "),
                         station=station)
    token = secrets.token_hex(24)
    now = clock.now()
    expires = (now + timedelta(hours=rules.SESSION_HOURS)).isoformat(timespec="microseconds")
    with store.transaction():
        store.insert("sessions", {"token": token, "username": username, "station": station,
                                  "created_at": now.isoformat(timespec="microseconds"),
                                  "expires_at": expires})
        store.append_audit(username=username, station=station, action="user.login",
                           entity_type="user", entity_id=username)
    ctx.session_path.write_text(token + "\n")
    ctx.session_path.chmod(0o600)
    return {"username": actor.username, "full_name": actor.full_name, "role": actor.role,
            "station": station, "expires_at": expires}


def logout(ctx: Context) -> str | None:
    token = _read_session_token(ctx)
    if token is None:
        return None
    session = ctx.store.get("sessions", token)
    if session and not session["ended_at"]:
        with ctx.store.transaction() as tx:
            tx.update("sessions", token, {"ended_at": clock.now_iso()})
            tx.append_audit(username=session["username"], station=session["station"],
                            action="user.logout", entity_type="user",
                            entity_id=session["username"])
    ctx.session_path.unlink(missing_ok=True)
    return session["username"] if session else None


# -- electronic signatures ---------------------------------------------------------------

MEANINGS = ("authored", "reviewed", "approved", "released", "dispositioned", "closed",
            "held", "unheld", "rejected", "recalled", "shipped")


@dataclass(frozen=True)
class Signer:
    actor: Actor
    meaning: str


def prepare_signature(ctx: Context, action: str, meaning: str) -> Signer:
    """Authority check plus the password re-entered for this signing (11.200(a)).

    Done before the write transaction so that a wrong password is counted and audited
    even though the signed change is not made.
    """
    actor = require(ctx, action)
    if ctx.user is None:  # session user: the signature needs the password again
        authenticate(ctx.store, actor.username,
                     ctx.password(f"signature ({meaning}) — password for {actor.username}: "),
                     station=ctx.station)
    return Signer(actor, meaning)


def sign(store: Store, signer: Signer, record_type: str, record_id: str,
         record: Any) -> dict[str, Any]:
    """Record the signature in the caller's transaction, bound to the record's hash."""
    row = {"username": signer.actor.username, "full_name": signer.actor.full_name,
           "meaning": signer.meaning, "signed_at": clock.now_iso(),
           "utc_offset": clock.local_offset(), "record_type": record_type,
           "record_id": record_id,
           "record_sha256": record_hash(json.loads(json.dumps(record, default=str)))}
    row["id"] = store.insert("signatures", row, returning="id")
    store.append_audit(username=signer.actor.username, station=None, action="signature",
                       entity_type=record_type, entity_id=record_id,
                       new={k: row[k] for k in ("meaning", "full_name", "record_sha256")})
    return row


def signatures_for(store: Store, record_type: str, record_id: str) -> list[dict[str, Any]]:
    return [present_signature(s) for s in store.find(
        "signatures", {"record_type": record_type, "record_id": record_id}, order="id")]


def present_signature(s: dict[str, Any]) -> dict[str, Any]:
    """As printed: printed name, meaning, local date/time with the signer's offset."""
    from datetime import datetime, timezone

    utc = datetime.fromisoformat(s["signed_at"])
    sign_, hh, mm = s["utc_offset"][0], int(s["utc_offset"][1:3]), int(s["utc_offset"][4:6])
    delta = timedelta(hours=hh, minutes=mm) * (1 if sign_ == "+" else -1)
    local = utc.astimezone(timezone(delta))
    return {"full_name": s["full_name"], "username": s["username"], "meaning": s["meaning"],
            "signed_at_utc": s["signed_at"], "utc_offset": s["utc_offset"],
            "local_time": f"{local:%Y-%m-%d %H:%M:%S} ({s['utc_offset']})",
            "record_type": s["record_type"], "record_id": s["record_id"],
            "record_sha256": s["record_sha256"]}
