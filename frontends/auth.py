"""Authentication for both APIs: HTTP basic users and bearer tokens (``config.auth_config``).

One ``Authenticator`` decides; two thin adapters apply it:

- REST: ``rest_middleware`` answers a request without valid credentials with 401, a
  ``WWW-Authenticate`` challenge per accepted scheme (``Basic realm="aioserving"``,
  ``Bearer realm="aioserving"``) and TF Serving's error body ``{"error": "..."}``.
- gRPC: ``GrpcAuth`` reads the ``authorization`` metadata (the same ``Basic ...`` /
  ``Bearer ...`` values); the method's handler (``frontends.grpc_methods``) aborts a call
  it refuses with UNAUTHENTICATED.

What stays open: the health checks (``/v2/health/...`` and ``grpc.health.v1.Health``)
unless ``--auth_protect_health``; ``/metrics`` (and the monitoring config's path) only
with ``--auth_open_metrics``. Everything else needs a credential.

Comparisons run in constant time: a bearer token is compared (``hmac.compare_digest``, on
SHA-256 digests so lengths never leak) with every configured token, not just until the
first match; an unknown user is checked against a dummy hash of the same kind, so the
answer takes as long as for a wrong password. bcrypt is slow on purpose (tens to hundreds
of milliseconds), so it runs in a worker thread, never on the event loop, and a verified
``Authorization`` value is remembered (as a keyed digest, never in clear) so that a client
pays for it once, not on every request. Failures are counted through ``on_failure(api,
reason)`` (``app.metrics``: reason ``missing`` or ``invalid``); nothing secret is logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable

import bcrypt
from aiohttp import web
from aiohttp.typedefs import Middleware

from config.auth_config import SHA256_PREFIX, AuthSettings

REALM = "aioserving"
HEALTH_REST_PREFIX = "/v2/health/"
HEALTH_GRPC_PREFIX = "/grpc.health.v1.Health/"
_VERIFIED_CACHE_ENTRIES = 1024
_DUMMY_SHA256 = SHA256_PREFIX + "0" * 64

FailureHook = Callable[[str, str], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Authenticator:
    """Checks one ``Authorization`` value against the configured users and tokens."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._token_digests = [
            hashlib.sha256(token.encode()).digest() for token in settings.bearer_tokens
        ]
        self._cache_key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        schemes = []
        if settings.basic_users:
            schemes.append(f'Basic realm="{REALM}", charset="UTF-8"')
        if settings.bearer_tokens:
            schemes.append(f'Bearer realm="{REALM}"')
        self.challenges: tuple[str, ...] = tuple(schemes)
        # An unknown user is checked against a hash of a random password, of the same kind
        # and cost as a configured user's, so the answer takes as long as a wrong password.
        self._dummy_hash = _DUMMY_SHA256
        bcrypt_hashes = [
            h for h in settings.basic_users.values() if not h.startswith(SHA256_PREFIX)
        ]
        if bcrypt_hashes:
            rounds = int(bcrypt_hashes[0][4:6])
            self._dummy_hash = bcrypt.hashpw(
                secrets.token_bytes(16), bcrypt.gensalt(rounds)
            ).decode()

    async def check(self, authorization: str | None) -> str | None:
        """``None`` when the credential is valid; otherwise the reason: missing or invalid."""
        if not authorization:
            return "missing"
        key = hmac.new(
            self._cache_key, authorization.encode(errors="surrogateescape"), "sha256"
        ).digest()
        if key in self._verified:
            self._verified.move_to_end(key)
            return None
        scheme, _, value = authorization.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self._token_digests:
            valid = self._token_matches(value.strip())
        elif scheme == "basic" and self.settings.basic_users:
            valid = await self._basic_matches(value.strip())
        else:
            valid = False
        if not valid:
            return "invalid"
        self._verified[key] = None
        if len(self._verified) > _VERIFIED_CACHE_ENTRIES:
            self._verified.popitem(last=False)
        return None

    def _token_matches(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode(errors="surrogateescape")).digest()
        matched = False
        for known in self._token_digests:  # every token, no early exit
            matched |= hmac.compare_digest(digest, known)
        return matched

    async def _basic_matches(self, encoded: str) -> bool:
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        stored = self.settings.basic_users.get(user)
        known_user = stored is not None
        if stored is None:
            stored = self._dummy_hash
        if stored.startswith(SHA256_PREFIX):
            computed = hashlib.sha256(password.encode()).hexdigest()
            ok = hmac.compare_digest(computed, stored.removeprefix(SHA256_PREFIX).lower())
        else:
            ok = await asyncio.to_thread(bcrypt.checkpw, password.encode(), stored.encode())
        return ok and known_user


def rest_middleware(
    authenticator: Authenticator,
    *,
    metrics_paths: Collection[str],
    on_failure: FailureHook | None = None,
) -> Middleware:
    """aiohttp middleware: 401 for a request without valid credentials (see the module docstring)."""
    settings = authenticator.settings
    open_paths = set(metrics_paths) if settings.open_metrics else set()

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in open_paths or (
            path.startswith(HEALTH_REST_PREFIX) and not settings.protect_health
        ):
            return await handler(request)
        reason = await authenticator.check(request.headers.get("Authorization"))
        if reason is None:
            return await handler(request)
        if on_failure is not None:
            on_failure("rest", reason)
        message = "credentials required" if reason == "missing" else "invalid credentials"
        response = web.json_response({"error": f"Unauthenticated: {message}"}, status=401)
        for challenge in authenticator.challenges:
            response.headers.add("WWW-Authenticate", challenge)
        return response

    return authenticate


class GrpcAuth:
    """Whether a gRPC call's ``authorization`` metadata is valid (checked per call by
    ``frontends.grpc_methods``, in the method's handler, not by an interceptor)."""

    __slots__ = ("_authenticator", "_on_failure")

    def __init__(self, authenticator: Authenticator, on_failure: FailureHook | None = None) -> None:
        self._authenticator = authenticator
        self._on_failure = on_failure

    def guards(self, method: str) -> bool:
        """Whether ``method`` (``/package.Service/Method``) needs a credential."""
        return (
            not method.startswith(HEALTH_GRPC_PREFIX) or self._authenticator.settings.protect_health
        )

    async def refusal(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
        """None when ``metadata`` carries a valid credential; else the UNAUTHENTICATED message."""
        authorization = next(
            (str(value) for key, value in metadata or () if key == "authorization"), None
        )
        reason = await self._authenticator.check(authorization)
        if reason is None:
            return None
        if self._on_failure is not None:
            self._on_failure("grpc", reason)
        message = "credentials required" if reason == "missing" else "invalid credentials"
        return f"Unauthenticated: {message}"
