"""Who may do what: the access file, its principals and their roles per group.

One file (YAML or JSON) serves the studio, the CLI, the Python API and the HTTP server::

    users:
      - name: alice
        password_hash: scrypt$16384$8$1$...     # `featurestore access hash-password`
        roles: [{role: owner, groups: ["fraud-*"]}, {role: viewer, tags: {pii: "false"}}]
      - name: carol@example.com                 # an OIDC or proxy identity: no password here
        roles: [{role: admin}]
    keys:                                        # API keys, signed with SigV4 (`serve`)
      - access_key_id: AKIDLOCALREADER
        secret_access_key: a-long-random-secret
        roles: [{role: viewer, groups: ["*"]}]
    pipeline_input_folders: [/data/exports]      # where pipelines may read CSV/Parquet inputs from

A grant gives a role on the groups whose name matches one of ``groups`` (``*``/``?`` patterns)
or whose tags include every ``tags`` pair; a grant with neither covers every group. Roles nest:
``viewer`` reads definitions, records, statistics and SQL over the groups it may read;
``editor`` also writes records, ingests and runs pipelines; ``owner`` also changes and deletes
the group, its rules, monitors and pipelines; ``admin`` does everything, creating groups and
reading the audit log included. Anything not granted is refused.

Passwords are kept as scrypt hashes (standard library, memory-hard), never in clear. The older
``serve --keys`` format (``policy: {actions, feature_groups}``) still loads: its actions keep
limiting what the key may call, over the groups it names.

Studio-facing: ``AccessFile`` and ``Principal``, what ``FeatureStore.policy()`` returns (the
studio's password sign-in checks passwords against it).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Iterable

from ..errors import ValidationError

ROLES = ("viewer", "editor", "owner", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True)
class Grant:
    role: str
    groups: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()

    def covers(self, group: str, tags: dict[str, str]) -> bool:
        if not self.groups and not self.tags:
            return True
        if any(fnmatchcase(group, p) for p in self.groups):
            return True
        return bool(self.tags) and all(tags.get(k) == v for k, v in self.tags)


@dataclass(frozen=True)
class Principal:
    """A user, API key or outside identity, with its grants. ``actions`` (old keys files only)
    further limits the SageMaker API calls a key may make."""

    name: str
    kind: str  # user | key | identity
    grants: tuple[Grant, ...] = ()
    password_hash: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    actions: tuple[str, ...] = ()

    def role_on(self, group: str, tags: dict[str, str]) -> str | None:
        """The highest role this principal holds on the group, or None."""
        best = None
        for g in self.grants:
            if g.covers(group, tags) and (best is None or RANK[g.role] > RANK[best]):
                best = g.role
        return best

    def highest(self) -> str | None:
        """The highest role held on any group (what store-wide actions ask for)."""
        ranks = [RANK[g.role] for g in self.grants]
        return ROLES[max(ranks)] if ranks else None

    def is_admin(self) -> bool:
        """An admin of the whole store (an admin grant limited to some groups is not)."""
        return any(g.role == "admin" and not g.groups and not g.tags for g in self.grants)


class AccessFile:
    """The principals of one access file, by name and by API key id."""

    def __init__(self, principals: Iterable[Principal], path: str | None = None,
                 input_folders: Iterable[str] = ()) -> None:
        self.path = path
        # The folders pipelines may read input files from (real paths): none means no file inputs.
        self.input_folders = tuple(input_folders)
        self.principals: dict[str, Principal] = {}
        self.keys: dict[str, Principal] = {}
        for p in principals:
            if p.name in self.principals:
                raise ValidationError(f"The access file names {p.name!r} twice; keep one entry per principal")
            self.principals[p.name] = p
            if p.kind == "key":
                self.keys[p.name] = p

    def __repr__(self) -> str:
        return f"AccessFile({self.path!r}, {len(self.principals)} principals)"

    def principal(self, name: str) -> Principal | None:
        return self.principals.get(name)

    def sign_in(self, name: str, password: str) -> Principal | None:
        """The user if the password matches its hash (in constant time), else None."""
        user = self.principals.get(name)
        if user is None or user.kind != "user" or not user.password_hash:
            check_password(password, _DUMMY_HASH)  # the same work either way: no timing tells names apart
            return None
        return user if check_password(password, user.password_hash) else None

    @classmethod
    def load(cls, path: str) -> "AccessFile":
        """Read an access file. Raises ValidationError naming the entry at fault (never a secret)."""
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ValidationError(f"Cannot read the access file {path}: {type(exc).__name__}") from None
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text: str, path: str | None) -> "AccessFile":
        """An access file's principals from its text; ``path`` is where it came from, for messages
        (None for the policy a shared store keeps in its tables)."""
        import yaml

        origin = path or "the store's published access policy"
        try:
            data = yaml.safe_load(text)  # YAML is a superset of JSON
        except yaml.YAMLError as exc:
            raise ValidationError(f"Cannot read the access file {origin}: {type(exc).__name__}") from None
        if not isinstance(data, dict) or not (data.get("users") or data.get("keys")):
            raise ValidationError(f"The access file {origin} needs a non-empty list of 'users' or 'keys'")
        principals = []
        for section, kind in (("users", "user"), ("keys", "key")):
            entries = data.get(section) or []
            if not isinstance(entries, list):
                raise ValidationError(f"{origin}: '{section}' must be a list")
            principals += [_principal(entry, f"{section}[{i}]", kind) for i, entry in enumerate(entries)]
        return cls(principals, path, _input_folders(data.get("pipeline_input_folders"), origin))


def _input_folders(value: Any, origin: str) -> tuple[str, ...]:
    """``pipeline_input_folders``: absolute folders, kept as real paths so a symlink or ``..``
    cannot widen them."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError(f"{origin}: pipeline_input_folders must be a list of folders, e.g. [/data/exports]")
    folders = []
    for i, folder in enumerate(value):
        folder = os.path.expanduser(folder.strip())
        if not os.path.isabs(folder):
            raise ValidationError(f"{origin}: pipeline_input_folders[{i}] {folder!r} must be an absolute path, "
                                  "e.g. /data/exports")
        folders.append(os.path.realpath(folder))
    return tuple(folders)


def _principal(entry: Any, where: str, kind: str) -> Principal:
    if not isinstance(entry, dict):
        raise ValidationError(f"{where} must be a mapping")
    if kind == "key":
        name, secret = entry.get("access_key_id"), entry.get("secret_access_key")
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"{where} needs an access_key_id")
        if not isinstance(secret, str) or len(secret) < 8:
            raise ValidationError(f"{where} ({name}) needs a secret_access_key of at least 8 characters")
    else:
        name, secret = entry.get("name"), None
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"{where} needs a name")
    hashed = entry.get("password_hash")
    if hashed is not None and (not isinstance(hashed, str) or not hashed.startswith("scrypt$")):
        raise ValidationError(f"{where} ({name}): password_hash must come from `featurestore access hash-password` "
                              "(scrypt$...); never write a password in clear")
    if "password" in entry:
        raise ValidationError(f"{where} ({name}): write password_hash (from `featurestore access hash-password`), "
                              "not a password in clear")
    grants, actions = _grants(entry, where, name)
    kind = "key" if kind == "key" else "user" if hashed else "identity"
    return Principal(name, kind, grants, hashed, secret, actions)


def _grants(entry: dict[str, Any], where: str, name: str) -> tuple[tuple[Grant, ...], tuple[str, ...]]:
    policy = entry.get("policy")
    if policy is not None:  # the older keys format: actions over feature_groups
        if not isinstance(policy, dict):
            raise ValidationError(f"{where} ({name}): policy must have actions and feature_groups")
        lists = {}
        for key in ("actions", "feature_groups"):
            value = policy.get(key)
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                raise ValidationError(f"{where} ({name}): policy.{key} must be a non-empty list of patterns")
            lists[key] = tuple(value)
        bad = [a for a in lists["actions"] if not a.lower().startswith("sagemaker:")]
        if bad:
            raise ValidationError(f"{where} ({name}): actions look like 'sagemaker:GetRecord' or 'sagemaker:*', "
                                  f"not {bad[0]!r}")
        return (Grant("admin", lists["feature_groups"]),), lists["actions"]
    roles = entry.get("roles")
    if not isinstance(roles, list) or not roles:
        raise ValidationError(f"{where} ({name}) needs roles, e.g. [{{role: viewer, groups: ['*']}}]")
    grants = []
    for i, r in enumerate(roles):
        at = f"{where} ({name}) roles[{i}]"
        if not isinstance(r, dict) or r.get("role") not in ROLES:
            raise ValidationError(f"{at}: role must be one of {', '.join(ROLES)}")
        groups, tags = r.get("groups", []), r.get("tags", {})
        if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
            raise ValidationError(f"{at}: groups must be a list of names or patterns like 'fraud-*'")
        if not isinstance(tags, dict):
            raise ValidationError(f"{at}: tags must be a mapping like {{pii: 'false'}}")
        extra = sorted(set(r) - {"role", "groups", "tags"})
        if extra:
            raise ValidationError(f"{at}: unknown field {extra[0]!r} (a grant has role, groups and tags)")
        grants.append(Grant(r["role"], tuple(groups), tuple(sorted((str(k), str(v)) for k, v in tags.items()))))
    return tuple(grants), ()


# ----------------------------------------------------------------------------- passwords

def hash_password(password: str) -> str:
    """An scrypt hash to keep in the access file: scrypt$N$r$p$salt$hash (base64)."""
    if len(password) < 8:
        raise ValidationError("Use a password of at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)])


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(expected), maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


_DUMMY_HASH = "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(b"\0" * 16), _b64(b"\0" * 32)])


def find(store_path: str) -> str | None:
    """The store's access file (``access.yaml``, ``.yml`` or ``.json`` in its folder), if any."""
    for name in ("access.yaml", "access.yml", "access.json"):
        path = os.path.join(store_path, name)
        if os.path.exists(path):
            return path
    return None
