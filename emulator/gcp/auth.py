"""The OAuth 2.0 token endpoint, and who may do what, decided from the world's IAM state.

google-auth turns a service-account key into access tokens with the JWT-bearer grant; GAPIC
clients may instead send a self-signed JWT as the bearer token. Both are accepted after the
signature is checked against the public key IAM holds for the key id, so a deleted account or
a forged key fails. A caller may do what the roles bound to it grant, in the IAM policies of the
resource and of its ancestors (bucket, service account, project).
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from google.auth import jwt

from emulator.core.errors import permission_denied, unauthenticated
from emulator.core.http import json_response
from emulator.core.world import Resource, World
from emulator.gcp.iam import IamService
from emulator.gcp.policy import Policy

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth addresses every grant to Google's endpoint, whatever the key's `token_uri` says.
GOOGLE_TOKEN_AUDIENCES = (
    "https://oauth2.googleapis.com/token",
    "https://accounts.google.com/o/oauth2/token",
)
_MAX_JWT_LIFETIME = 3600
_CLOCK_SKEW = 10
_CREDENTIALS_HINT = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


@runtime_checkable
class PolicySource(Protocol):
    """A service holding IAM policies: those attached to `resource` or to its ancestors."""

    def policies_for(self, resource: str) -> list[Policy]: ...


class InvalidGrantError(Exception):
    pass


@dataclass
class AccessToken:
    email: str
    expires: float


class AuthService:
    """Token endpoint (`oauth2`) and the world's authorizer."""

    name = "oauth2"

    def __init__(self, world: World, iam: IamService, token_lifetime: float) -> None:
        self.world = world
        self.iam = iam
        self.token_lifetime = token_lifetime
        self.token_uri = ""  # known once the oauth2 endpoint is bound to a port
        self.tokens: dict[str, AccessToken] = {}
        # Every token issued, expired ones too, for the control API: tests scan for them.
        self.issued: list[tuple[str, str]] = []  # (email, access token)

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/token", self.token, name="oauth2.token")]

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant_type = form.get("grant_type")
        if grant_type != JWT_BEARER_GRANT:
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        try:
            email = self._verify_jwt(str(form.get("assertion", "")), audience=self._audiences())
        except InvalidGrantError as error:
            return _oauth_error("invalid_grant", str(error))
        now = self.world.clock.now()
        self.tokens = {key: t for key, t in self.tokens.items() if t.expires > now}
        access_token = "ya29." + secrets.token_urlsafe(48)
        self.tokens[access_token] = AccessToken(email, now + self.token_lifetime)
        self.issued.append((email, access_token))
        return json_response(
            {
                "access_token": access_token,
                "expires_in": int(self.token_lifetime),
                "token_type": "Bearer",
            }
        )

    async def authorize(self, request: web.Request, permission: str, resource: str) -> str:
        email = self.authenticate(request)
        if granted(self.world, [f"serviceAccount:{email}"], permission, resource):
            return email
        raise permission_denied(
            f"Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
        )

    def authenticate(self, request: web.Request) -> str:
        """The caller's service-account email; 401 without a valid, unexpired credential."""
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise unauthenticated(
                f"Request is missing required authentication credential. {_CREDENTIALS_HINT}"
            )
        email = self._bearer_principal(credential)
        if email is None or email not in self.iam.accounts:
            raise unauthenticated(
                f"Request had invalid authentication credentials. {_CREDENTIALS_HINT}"
            )
        return email

    def _bearer_principal(self, credential: str) -> str | None:
        token = self.tokens.get(credential)
        if token is not None:
            return token.email if token.expires > self.world.clock.now() else None
        if credential.count(".") != 2:
            return None
        try:
            return self._verify_jwt(credential, audience=None)
        except InvalidGrantError:
            return None

    def _audiences(self) -> list[str]:
        return [*GOOGLE_TOKEN_AUDIENCES, self.token_uri]

    def _verify_jwt(self, assertion: str, audience: list[str] | None) -> str:
        """The issuing account of a JWT signed with one of its keys (a grant or a bearer JWT)."""
        try:
            key_id = jwt.decode_header(assertion).get("kid")
        except ValueError as error:
            raise InvalidGrantError(f"Invalid JWT: {error}") from None
        key = self.iam.public_key(key_id) if isinstance(key_id, str) else None
        if key is None:
            raise InvalidGrantError("Invalid grant: account not found")
        email, public_key = key
        try:
            claims = jwt.decode(
                assertion,
                certs={key_id: public_key},
                audience=audience,
                clock_skew_in_seconds=_CLOCK_SKEW,
            )
        except ValueError as error:
            raise InvalidGrantError(f"Invalid JWT Signature or claims: {error}") from None
        if claims.get("iss") != email:
            raise InvalidGrantError("Invalid JWT: the issuer is not the key's service account.")
        if audience is None and claims.get("aud") in self._audiences():
            raise InvalidGrantError("Invalid JWT: a grant assertion is not an access token.")
        if claims["exp"] - claims["iat"] > _MAX_JWT_LIFETIME:
            raise InvalidGrantError(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim."
            )
        return email

    def issued_tokens(self) -> list[dict[str, str]]:
        """Every access token issued since the world was created or reset, in order."""
        return [{"account": email, "access_token": token} for email, token in self.issued]

    def resources(self) -> list[Resource]:
        return []

    def dump(self) -> dict[str, Any]:
        now = self.world.clock.now()
        return {
            "tokens": {
                key: [token.email, token.expires]
                for key, token in self.tokens.items()
                if token.expires > now
            },
            "issued": self.issued,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.tokens = {
            key: AccessToken(email, expires) for key, (email, expires) in state["tokens"].items()
        }
        self.issued = [(email, token) for email, token in state["issued"]]


def granted(world: World, members: Sequence[str], permission: str, resource: str) -> bool:
    """Whether a role bound to any of `members` (one caller's aliases) grants `permission`, in
    the policies of `resource` and its ancestors as they are now."""
    return any(
        policy.grants(member, permission)
        for service in world.services.values()
        if isinstance(service, PolicySource)
        for policy in service.policies_for(resource)
        for member in members
    )


def _oauth_error(error: str, description: str) -> web.Response:
    """Token endpoint errors use the OAuth 2.0 shape (RFC 6749 5.2), not Google's API shape."""
    return json_response({"error": error, "error_description": description}, status=400)
