"""Users, sessions, authority checks and electronic signatures (Part 11 §11.10(g), 11.50-11.300)."""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from mes import clock
from mes.domain import auth as rules
from mes.domain.audit import record_hash
from mes.domain.ids import check_id
from mes.domain.words import plural
from mes.errors import InvalidInput, NotAuthorised, NotFound, Refused
from mes.services.context import Actor, Context
from mes.services.files import write_atomic
from mes.services.localtime import local_offset
from mes.services.settings import setting
from mes.store import users as users_store
from mes.store.base import Store


def authenticate(store: Store, username: str, password: str, *, station: str | None = None,
                 changing_password: bool = False) -> Actor:
    """Check a password; count failures and lock after 5 (each audited, committed).

    An expired or admin-reset password is refused unless the user is changing it.
    """
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
            failed = users_store.count_failed_login(store, username)
            store.touch("users", (username,))
            lock = failed >= rules.MAX_FAILED_LOGINS
            if lock:
                store.update("users", username, {"locked": True})
            store.append_audit(username=username, station=station, action="user.login_failed",
                               entity_type="user", entity_id=username,
                               old={"failed_logins": failed - 1},
                               new={"failed_logins": failed, "locked": lock})
        left = rules.MAX_FAILED_LOGINS - failed
        hint = "the account is now locked: ask an admin" if lock else \
            f"{plural(left, 'attempt')} left"
        raise NotAuthorised(f"wrong password for {username}: {hint}")
    if not changing_password:
        _check_password_current(store, user, station)
    if user["failed_logins"]:
        with store.transaction():
            store.update("users", username, {"failed_logins": 0})
    return Actor(username, user["role"], user["full_name"], user_sites(user))


def _check_password_current(store: Store, user: dict[str, Any], station: str | None) -> None:
    """Part 11 §11.300(b): a password reset by an admin, or older than the ageing setting,
    opens nothing but `mes user passwd` (refused and audited)."""
    name = user["username"]
    if user.get("must_change"):
        _audit_denied(store, name, station, "login", "password reset by an admin: not changed")
        raise NotAuthorised(f"the password of {name} was reset by an admin: choose your own "
                            f"with `mes user passwd` (it asks for the one you were given)")
    max_age = float(setting(store, "password.max_age_days", rules.PASSWORD_MAX_AGE_DAYS))
    changed = datetime.fromisoformat(user.get("pw_changed_at") or user["created_at"])
    if clock.now() - changed > timedelta(days=max_age):
        _audit_denied(store, name, station, "login", f"password older than {max_age:g} days")
        raise NotAuthorised(f"the password of {name} is older than {max_age:g} days: change "
                            "it with `mes user passwd`")


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
    session = _open_session(ctx, token)
    user = store.get("users", session["username"])
    if user is None or not user["active"] or user["locked"]:
        raise NotAuthorised(f"user {session['username']} can no longer act: ask an admin")
    ctx._actor = Actor(user["username"], user["role"], user["full_name"], user_sites(user))
    ctx.session_station = session["station"]
    if ctx.station is None:
        ctx.station = session["station"]
    return ctx._actor


def _open_session(ctx: Context, token: str) -> dict[str, Any]:
    """The session of this token, if it is still open here: same host, not ended, not past
    its 8 h, not idle longer than `session.idle_minutes`. Touches its idle clock."""
    store = ctx.store
    session = store.get("sessions", rules.token_digest(token))
    if session is None:
        legacy = store.get("sessions", token)
        if legacy is not None and legacy["host"] is None:  # opened before the migration
            raise NotAuthorised("this session was opened by an older mes that kept tokens in "
                                "clear; such sessions are no longer valid: run `mes login USER`")
        raise NotAuthorised("the station session has ended: run `mes login USER`")
    if session["ended_at"]:
        raise NotAuthorised("the station session has ended: run `mes login USER`")
    now = clock.now_iso()
    if session["expires_at"] < now:
        raise NotAuthorised("the station session expired (8 h): run `mes login USER` again")
    here = socket.gethostname()
    if session["host"] != here:
        _audit_denied(store, session["username"], session["station"], "session",
                      f"session opened on host {session['host']} used on host {here}")
        raise NotAuthorised(f"this session was opened on another computer "
                            f"({session['host']}): run `mes login USER` on this one")
    idle = float(setting(store, "session.idle_minutes", rules.SESSION_IDLE_MINUTES))
    seen = datetime.fromisoformat(session["last_seen"] or session["created_at"])
    quiet = clock.now() - seen
    if quiet > timedelta(minutes=idle):
        raise NotAuthorised(f"the station session ended after {idle:g} min without use: run "
                            "`mes login USER` again")
    if quiet > _TOUCH_EVERY:  # a small write every 30 s at most, not one per command
        with store.transaction() as tx:
            tx.update("sessions", session["token"], {"last_seen": now})
    return session


# The idle clock is moved at most this often (its precision); not audited: it records use
# of a session, not a fact of manufacture.
_TOUCH_EVERY = timedelta(seconds=30)


def check_session_station(ctx: Context, actor: Actor, station: str) -> None:
    """A session opened at a station acts at that station only, and a user limited to
    sites at their stations only (refused and audited)."""
    if actor.sites is not None:
        from mes.store.sites import station_site

        check_site(ctx, actor, "step.record", station_site(ctx.store, station))
    bound = ctx.session_station
    if ctx.user is not None or not bound or bound == station:
        return
    _audit_denied(ctx.store, actor.username, bound, f"act at {station}",
                  f"session is for station {bound}")
    raise NotAuthorised(f"the session of {actor.username} is for station {bound}: log in at "
                        f"{station} with `mes login {actor.username} --station {station}`")


def require(ctx: Context, action: str, target: str | None = None) -> Actor:
    """Authenticate and check the permission table, then the user's sites (issue 20)
    against the station acted at and the target lot (unit, NCR): before the target's
    state is read. A refusal is audited, then raised."""
    actor = current_actor(ctx)
    if not rules.allowed(actor.role, action):
        _audit_denied(ctx.store, actor.username, ctx.station, action,
                      f"role {actor.role} may not {action}")
        raise NotAuthorised(f"{actor.username} ({actor.role}) may not "
                            f"{rules.action_words(action)}: it needs the role "
                            f"{rules.roles_words(action)}: ask one who has it")
    if actor.sites is not None:
        from mes.store.sites import item_site, station_site

        check_site(ctx, actor, action, station_site(ctx.store, ctx.station))
        check_site(ctx, actor, action, item_site(ctx.store, target))
    return actor


def check_site(ctx: Context, actor: Actor, action: str, where: str | None) -> None:
    """A role limited to some sites acts for those only (refused and audited, exit 6)."""
    if rules.site_allowed(actor.sites, where):
        return
    sites = ", ".join(actor.sites or ())
    _audit_denied(ctx.store, actor.username, ctx.station, action,
                  f"role {actor.role} limited to sites {sites}, not {where}")
    raise NotAuthorised(f"{actor.username} ({actor.role}) may {rules.action_words(action)} "
                        f"for site{'s' if len(actor.sites or ()) > 1 else ''} {sites} only, "
                        f"not for site {where}: ask one who acts for that site")


def user_sites(user: dict[str, Any]) -> tuple[str, ...] | None:
    text = user.get("sites")
    return tuple(text.split(",")) if text else None


def latest_qualification(store: Store, username: str, station_type: str
                         ) -> dict[str, Any] | None:
    """The grant or revocation in force: the latest recorded, whatever its end date."""
    rows = store.find("qualifications", {"username": username, "station_type": station_type},
                      order="id DESC", limit=1)
    return rows[0] if rows else None


def require_qualified(ctx: Context, actor: Actor, station_type: str) -> None:
    from mes.domain.interlocks import check_qualified

    try:
        check_qualified(actor.username, station_type,
                        latest_qualification(ctx.store, actor.username, station_type),
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
                created_by: str | None, station: str | None = None,
                sites: list[str] | None = None) -> None:
    """Inside the caller's transaction. User names are never reused (Part 11 11.300(a))."""
    check_user_fields(username, full_name, role, password)
    if store.get("users", username):
        raise Refused(f"user name {username} is taken (names are never reused): choose another")
    salt, digest = rules.hash_password(password)
    now = clock.now_iso()
    store.insert("users", {"username": username, "full_name": full_name, "role": role,
                           "pw_salt": salt, "pw_hash": digest, "created_at": now,
                           "created_by": created_by, "pw_changed_at": now,
                           "pw_history": "[]", "sites": ",".join(sites) if sites else None})
    store.append_audit(username=created_by, station=station, action="user.add",
                       entity_type="user", entity_id=username,
                       new={"full_name": full_name, "role": role,
                            **({"sites": sites} if sites else {})})


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
    problem = rules.password_problem(password, username)
    if problem:
        raise InvalidInput(problem, field="password")


def add_user(ctx: Context, username: str, full_name: str, role: str, password: str,
             sites: str | None = None) -> None:
    actor = require(ctx, "user.add")
    limited = parse_sites(ctx.store, sites)
    with ctx.store.transaction() as tx:
        create_user(tx, username=username, full_name=full_name, role=role, password=password,
                    created_by=actor.username, station=ctx.station, sites=limited)


def parse_sites(store: Store, text: str | None) -> list[str] | None:
    """`--sites S1,S2` → known site ids, sorted (None or 'all': every site)."""
    if text is None or text.strip().lower() == "all":
        return None
    ids = sorted({s.strip().upper() for s in text.split(",") if s.strip()})
    if not ids:
        raise InvalidInput("--sites needs site ids (S1,S2) or 'all'", field="sites")
    unknown = [s for s in ids if store.get("sites", s) is None]
    if unknown:
        raise NotFound(f"site {unknown[0]} is not known: see `mes site list`")
    return ids


def set_user_sites(ctx: Context, username: str, sites: str) -> dict[str, Any]:
    """Limit a user's roles to some sites, or (`all`) lift the limit (admin; audited)."""
    actor = require(ctx, "user.sites")
    user = ctx.store.get("users", username)
    if user is None:
        raise NotFound(f"no user {username}: see `mes user list`")
    limited = parse_sites(ctx.store, sites)
    old = user_sites(user)
    if (list(old) if old else None) == limited:
        raise Refused(f"{username} already acts for {', '.join(limited or ['all sites'])}")
    with ctx.store.transaction() as tx:
        tx.update("users", username, {"sites": ",".join(limited) if limited else None})
        tx.append_audit(username=actor.username, station=ctx.station, action="user.sites",
                        entity_type="user", entity_id=username,
                        old={"sites": list(old) if old else "all"},
                        new={"sites": limited or "all"})
    return {"username": username, "sites": limited or "all"}


def qualify(ctx: Context, username: str, station_type: str, until: date) -> None:
    """A new grant replaces the one in force, longer or shorter (the latest wins)."""
    from mes.domain.interlocks import check_not_past

    actor = require(ctx, "user.qualify")
    store = ctx.store
    if store.get("users", username) is None:
        raise NotFound(f"no user {username}: add it with `mes user add`")
    check_id(station_type.upper(), "station type")
    check_not_past(until, clock.now().date(), "--until")
    with store.transaction():
        store.insert("qualifications", {"username": username, "station_type": station_type,
                                        "valid_until": until.isoformat(),
                                        "granted_by": actor.username,
                                        "granted_at": clock.now_iso()})
        store.append_audit(username=actor.username, station=ctx.station, action="user.qualify",
                           entity_type="user", entity_id=username,
                           new={"station_type": station_type, "valid_until": until.isoformat()})


def check_segregation(ctx: Context, actor: Actor, action: str, record: str,
                      author: str | None) -> None:
    """Segregation of duties: whoever authored a record (loaded a routing, registered a
    firmware image; later catalog changes and label templates) may not approve it. The
    plant setting `segregation_of_duties` (on by default) can turn it off; a refusal is
    audited like any authority refusal (exit 6)."""
    if author != actor.username or not setting(ctx.store, "segregation_of_duties", True):
        return
    _audit_denied(ctx.store, actor.username, ctx.station, action,
                  f"segregation of duties: {actor.username} authored {record}")
    raise NotAuthorised(f"{actor.username} authored {record} and may not also approve it "
                        "(segregation of duties): ask another quality engineer")


def deny(ctx: Context, actor: Actor, action: str, why: str, message: str) -> None:
    """Refuse for lack of authority beyond the role (audited, exit 6), e.g. recording one's
    own training."""
    _audit_denied(ctx.store, actor.username, ctx.station, action, why)
    raise NotAuthorised(message)


# -- passwords (Part 11 §11.300) ----------------------------------------------------------

@dataclass(frozen=True)
class PasswordChange:
    target: str
    by: Actor
    reset: bool  # an admin setting someone else's password: changed again at next login


def begin_password_change(ctx: Context, username: str | None) -> PasswordChange:
    """Who changes whose password. Without a name, or with one's own: the user, who
    re-enters the current password (even an expired or admin-reset one). With another
    user's name: an admin reset. Authenticated here, before the new password is read."""
    # --user names the acting user without authenticating yet (an expired or reset
    # password may still change itself); else the station session acts.
    acting = ctx.user or current_actor(ctx).username
    target = username or acting
    if target != acting:
        actor = require(ctx, "user.reset_password")
        if ctx.store.get("users", target) is None:
            raise NotFound(f"no user {target}: see `mes user list`")
        return PasswordChange(target, actor, reset=True)
    actor = authenticate(ctx.store, target, ctx.password(f"current password for {target}: "),
                         station=ctx.station, changing_password=True)
    ctx._actor = actor
    require(ctx, "user.passwd")
    return PasswordChange(target, actor, reset=False)


def set_password(ctx: Context, change: PasswordChange, password: str) -> dict[str, Any]:
    """Store the new password: strength, not the current one nor one of the last 5; a
    reset by an admin must be changed by its owner at the next login."""
    store = ctx.store
    user = store.get("users", change.target)
    if user is None:
        raise NotFound(f"no user {change.target}")
    problem = rules.password_problem(password, change.target)
    if problem:
        raise InvalidInput(problem, field="password")
    history = [tuple(p) for p in json.loads(user.get("pw_history") or "[]")]
    current = (user["pw_salt"], user["pw_hash"])
    if rules.reuses(password, [current, *history]):
        raise InvalidInput(f"that password was used before: choose one that is not any of "
                           f"the last {rules.PASSWORD_HISTORY}", field="password")
    salt, digest = rules.hash_password(password)
    now = clock.now_iso()
    kept = [list(p) for p in [*history, current][-rules.PASSWORD_HISTORY:]]
    with store.transaction() as tx:
        tx.update("users", change.target, {"pw_salt": salt, "pw_hash": digest,
                                           "pw_changed_at": now, "must_change": change.reset,
                                           "pw_history": json.dumps(kept)})
        tx.append_audit(username=change.by.username, station=ctx.station,
                        action="user.reset_password" if change.reset else "user.passwd",
                        entity_type="user", entity_id=change.target,
                        old={"must_change": bool(user.get("must_change"))},
                        new={"must_change": change.reset, "pw_changed_at": now})
    return {"username": change.target, "reset": change.reset, "must_change": change.reset,
            "changed_at": now}


def unqualify(ctx: Context, username: str, station_type: str, reason: str) -> dict[str, Any]:
    """Revoke a qualification now: recorded as a revocation row (records are never
    deleted), which becomes the latest, so the user may no longer post steps there."""
    actor = require(ctx, "user.unqualify")
    store = ctx.store
    if not reason.strip():
        raise InvalidInput("revoking a qualification needs a --reason", field="reason")
    if store.get("users", username) is None:
        raise NotFound(f"no user {username}: see `mes user list`")
    current = latest_qualification(store, username, station_type)
    today = clock.now().date()
    if current is None or current["revoked_reason"] or \
            date.fromisoformat(current["valid_until"]) < today:
        raise Refused(f"{username} has no qualification in force for {station_type}: "
                      "nothing to revoke (see `mes user list`)")
    row = {"username": username, "station_type": station_type,
           "valid_until": today.isoformat(), "granted_by": actor.username,
           "granted_at": clock.now_iso(), "revoked_reason": reason}
    with store.transaction():
        store.insert("qualifications", row)
        store.append_audit(username=actor.username, station=ctx.station,
                           action="user.unqualify", entity_type="user", entity_id=username,
                           old={"station_type": station_type,
                                "valid_until": current["valid_until"]},
                           new={"station_type": station_type, "revoked": today.isoformat()},
                           reason=reason)
    return row


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
        users_store.end_sessions(tx, username, clock.now_iso())
        tx.append_audit(username=actor.username, station=ctx.station,
                        action="user.deactivate", entity_type="user", entity_id=username,
                        old={"active": True}, new={"active": False}, reason=reason)


def list_users(ctx: Context) -> list[dict[str, Any]]:
    rows = ctx.store.find("users", order="username")
    quals = ctx.store.find("qualifications", order="id")
    out = []
    for r in rows:
        latest = {x["station_type"]: x for x in quals if x["username"] == r["username"]}
        q = {t: x["valid_until"] for t, x in sorted(latest.items()) if not x["revoked_reason"]}
        out.append({"username": r["username"], "full_name": r["full_name"], "role": r["role"],
                    "sites": r.get("sites") or "all",
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
    at = now.isoformat(timespec="microseconds")
    expires = (now + timedelta(hours=rules.SESSION_HOURS)).isoformat(timespec="microseconds")
    with store.transaction():
        # Only the token's sha256 is stored: the file grants the session, the database
        # does not (reading mes.db is not enough to act as someone).
        store.insert("sessions", {"token": rules.token_digest(token), "username": username,
                                  "station": station, "created_at": at, "expires_at": expires,
                                  "host": socket.gethostname(), "last_seen": at})
        store.append_audit(username=username, station=station, action="user.login",
                           entity_type="user", entity_id=username)
    write_atomic(ctx.session_path, (token + "\n").encode(), private=True)
    return {"username": actor.username, "full_name": actor.full_name, "role": actor.role,
            "station": station, "expires_at": expires}


def logout(ctx: Context) -> str | None:
    token = _read_session_token(ctx)
    if token is None:
        return None
    digest = rules.token_digest(token)
    session = ctx.store.get("sessions", digest)
    if session and not session["ended_at"]:
        with ctx.store.transaction() as tx:
            tx.update("sessions", digest, {"ended_at": clock.now_iso()})
            tx.append_audit(username=session["username"], station=session["station"],
                            action="user.logout", entity_type="user",
                            entity_id=session["username"])
    ctx.session_path.unlink(missing_ok=True)
    return session["username"] if session else None




# -- electronic signatures ---------------------------------------------------------------

MEANINGS = ("authored", "reviewed", "approved", "released", "dispositioned", "closed",
            "held", "unheld", "rejected", "recalled", "shipped", "cancelled", "adjusted",
            "trained")


@dataclass(frozen=True)
class Signer:
    actor: Actor
    meaning: str
    site_id: str | None = None  # where it was signed: its local time is that site's


def prepare_signature(ctx: Context, action: str, meaning: str,
                      target: str | None = None) -> Signer:
    """Authority check plus the password re-entered for this signing (11.200(a)).

    Done before the write transaction so that a wrong password is counted and audited
    even though the signed change is not made. The signature's site: the station's, else
    the target lot's, else the home site.
    """
    from mes.store.sites import home_site_id, item_site, station_site

    actor = require(ctx, action, target)
    if ctx.user is None:  # session user: the signature needs the password again
        authenticate(ctx.store, actor.username,
                     ctx.password(f"signature ({meaning}) — password for {actor.username}: "),
                     station=ctx.station)
    site_id = (station_site(ctx.store, ctx.station) or item_site(ctx.store, target)
               or home_site_id(ctx.store))
    return Signer(actor, meaning, site_id)


def sign(store: Store, signer: Signer, record_type: str, record_id: str,
         record: Any) -> dict[str, Any]:
    """Record the signature in the caller's transaction, bound to the record's hash."""
    row = {"username": signer.actor.username, "full_name": signer.actor.full_name,
           "meaning": signer.meaning, "signed_at": clock.now_iso(),
           "utc_offset": local_offset(store, signer.site_id), "record_type": record_type,
           "record_id": record_id, "site_id": signer.site_id,
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
