"""Access keys: AWS Signature V4 checked with botocore's own signer.

The keys come from the store's access file (``store.access.policy``: its ``keys`` section, each
key with roles per group, which the engine enforces for the key's principal). The older keys
file format, with a policy per key, still loads::

    keys:
      - access_key_id: AKIDLOCALREADER
        secret_access_key: a-long-random-secret
        policy:
          actions: ["sagemaker:GetRecord", "sagemaker:BatchGetRecord", "sagemaker:Describe*"]
          feature_groups: ["customers", "fraud-*"]

Actions and group names take ``*`` and ``?`` wildcards (actions ignore case, as IAM does).
Secrets never appear in a repr, a log line or an error message.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Iterable

from ..access.policy import AccessFile, Principal
from ..errors import AccessDenied, ValidationError

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "sagemaker"  # the signing name of both services
MAX_SKEW = dt.timedelta(minutes=15)
# Headers that pick the operation (X-Amz-Target) or say how to read the body: a request that sends
# one must sign it, or a captured signature could be replayed as another operation. Every x-amz-*
# header must be signed too, as AWS requires; botocore signs all headers but a few hop-by-hop ones.
MUST_SIGN = frozenset({"host", "x-amz-date", "content-type", "content-encoding"})
_PRESIGNED_RE = re.compile(r"(^|&)X-Amz-(Signature|Algorithm|Credential)=", re.IGNORECASE)
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;\-]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_REGION_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")


def region_of(authorization: str | None, default: str = "us-east-1") -> str:
    """The region a client signed for (ARNs echo it), without verifying anything."""
    match = _REGION_RE.search(authorization or "")
    return match.group(1) if match else default


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    actions: tuple[str, ...] = ("sagemaker:*",)
    principal: Principal | None = field(default=None, repr=False)

    def allows_action(self, action: str) -> bool:
        return any(fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions)

    def allows_group(self, name: str) -> bool:
        """An old-format key's group patterns; a key with roles leaves every decision to the
        engine, which names the role it lacks."""
        if self.principal is None or not self.principal.actions:
            return True
        return self.principal.role_on(name, {}) is not None


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request a signature covers, exactly as they arrived."""

    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]  # lower-case names, in arrival order, repeats kept
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


class Keyring:
    """The access keys a server accepts."""

    def __init__(self, keys: Iterable[AccessKey], path: str | None = None) -> None:
        self._keys = {k.access_key_id: k for k in keys}
        self.path = path  # the access file they came from, which the engine enforces too

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({len(self)} keys)"

    @classmethod
    def load(cls, path: str) -> "Keyring":
        """Read the keys of an access file. Raises ValidationError naming the entry at fault (never
        its secret)."""
        return cls.of(AccessFile.load(path))

    @classmethod
    def of(cls, file: AccessFile) -> "Keyring":
        """The keys of a loaded access file (or of the policy a shared store publishes)."""
        import importlib.util

        if importlib.util.find_spec("botocore") is None:  # signatures are checked with botocore's signer
            raise ValidationError("Checking signatures needs botocore: pip install boto3")
        if not file.keys:
            raise ValidationError(f"The access file {file.path or '(the published policy)'} needs a non-empty list "
                                  "under 'keys' for the HTTP API")
        return cls((AccessKey(p.name, p.secret or "", p.actions or ("sagemaker:*",), p) for p in file.keys.values()),
                   file.path)

    def verify(self, request: SignedRequest, now: dt.datetime | None = None) -> AccessKey:
        """The key that signed ``request``. Raises AccessDenied if the signature is missing, stale or wrong."""
        authorization = request.header("authorization")
        if not authorization and _PRESIGNED_RE.search(request.raw_query):
            raise AccessDenied("A signature in the query string (a presigned URL) is not accepted: sign requests "
                               "with AWS Signature Version 4 in the Authorization header")
        if not authorization:
            raise AccessDenied("Missing authentication: sign requests with AWS Signature Version 4")
        match = _AUTH_RE.match(authorization)
        if not match:
            raise AccessDenied(f"The Authorization header is not a {ALGORITHM} signature")
        key = self._keys.get(match["key"])
        if key is None:
            raise AccessDenied("The security token included in the request is invalid")
        if match["service"] != SERVICE:
            raise AccessDenied(f"Credential should be scoped to the service {SERVICE!r}")
        stamp = request.header("x-amz-date") or ""
        try:
            signed_at = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            raise AccessDenied("The request needs an X-Amz-Date header like 20240501T120000Z") from None
        if abs((now or dt.datetime.now(dt.timezone.utc)) - signed_at) > MAX_SKEW:
            raise AccessDenied("Signature expired: the request was signed more than 15 minutes away from now")
        if stamp[:8] != match["date"]:
            raise AccessDenied("The credential scope's date differs from X-Amz-Date")
        signed = match["headers"].split(";")
        unsigned = _unsigned_headers(request, signed)
        if unsigned:
            raise AccessDenied("There were headers present in the request which were not signed: "
                               f"{', '.join(unsigned)}; sign every x-amz-* header, host, content-type and "
                               "content-encoding")
        missing = [name for name in signed if request.header(name) is None]
        if missing:
            raise AccessDenied(f"The signature covers the header {missing[0]!r}, which the request lacks")
        body_hash = hashlib.sha256(request.body).hexdigest()
        if request.header("x-amz-content-sha256") not in (None, body_hash):
            raise AccessDenied("X-Amz-Content-SHA256 does not match the request body")
        expected = _signature(key, match["region"], stamp, signed, request)
        if not hmac.compare_digest(expected, match["signature"]):
            raise AccessDenied("The request signature we calculated does not match the signature you provided")
        return key


def _unsigned_headers(request: SignedRequest, signed: list[str]) -> list[str]:
    """The headers ``request`` sends (host and x-amz-date always) that must be signed but are not."""
    sent = {name for name, _ in request.headers} | {"host", "x-amz-date"}
    return sorted(name for name in sent
                  if name not in signed and (name in MUST_SIGN or name.startswith("x-amz-")))


def _signature(key: AccessKey, region: str, stamp: str, signed: list[str], request: SignedRequest) -> str:
    """Rebuild the canonical request from what arrived and sign it as botocore's SigV4Auth does."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest, HTTPHeaders
    from botocore.credentials import Credentials

    headers = HTTPHeaders()
    for name, value in request.headers:
        if name in signed:
            headers[name] = value  # HTTPHeaders keeps repeats, as the canonical form needs
    query = f"?{request.raw_query}" if request.raw_query else ""
    # The URL carries only the path and query: the canonical host is the signed Host header's value,
    # which need not parse as a URL's host ("[" would raise).
    aws_request = AWSRequest(method=request.method, url=f"http://localhost{request.raw_path}{query}",
                             data=request.body, headers=headers)
    aws_request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), SERVICE, region)
    if signer.signed_headers(signer.headers_to_sign(aws_request)) != ";".join(sorted(signed)):
        raise AccessDenied("The signature covers headers this server cannot check (such as user-agent)")
    canonical = signer.canonical_request(aws_request)
    return signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
