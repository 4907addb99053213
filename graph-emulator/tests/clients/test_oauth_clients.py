"""OAuth 2.0 / OpenID Connect libraries against the emulator's Entra ID endpoints, unchanged.

- authlib: discovery, authorization code + PKCE + nonce, id_token verified against the JWKS,
  refresh (against the emulator's own http address).
- requests-oauthlib: authorization code + PKCE + refresh over the public https URLs (routed),
  and a failed PKCE redemption that burns the code.
- MSAL: client credentials, and the auth code flow with its nonce check.
- azure-identity: ClientSecretCredential.get_token.
"""

import secrets

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken
from requests_oauthlib import OAuth2Session as OAuthlibSession

from conftest import query_of, redirect_location, routed_session

GRAPH_SCOPE = "https://graph.microsoft.com/Mail.ReadWrite.Shared"
PUBLIC_AUTHORITY = "https://login.microsoftonline.com"


def discovery(base, tenant):
    r = requests.get(f"{base}/{tenant}/v2.0/.well-known/openid-configuration", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_authlib_code_flow_with_pkce_nonce_verified_id_token_and_refresh(emulator_url, app):
    metadata = discovery(emulator_url, app["tenant_id"])
    # The endpoints are where this client called the emulator: nothing leaves the machine.
    assert metadata["authorization_endpoint"].startswith(emulator_url + "/")
    assert metadata["token_endpoint"].startswith(emulator_url + "/")
    assert metadata["issuer"] == f"{PUBLIC_AUTHORITY}/{app['tenant_id']}/v2.0"

    client = AuthlibSession(
        app["client_id"], app["client_secret"],
        scope=f"openid profile offline_access {GRAPH_SCOPE}",
        redirect_uri=app["redirect_uri"], code_challenge_method="S256")
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    location = redirect_location(requests.Session(), url)
    assert location.startswith(app["redirect_uri"]), location
    assert query_of(location)["state"] == state
    token = client.fetch_token(
        metadata["token_endpoint"], authorization_response=location, code_verifier=verifier)
    assert token["token_type"] == "Bearer"

    # The id_token is verified as an OpenID Connect client must: signature with the key the
    # JWKS names, issuer, audience, expiry and the nonce of this sign-in.
    jwks = requests.get(metadata["jwks_uri"], timeout=10).json()
    claims = jwt.decode(
        token["id_token"], JsonWebKey.import_key_set(jwks), claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": metadata["issuer"]}},
        claims_params={"nonce": nonce, "client_id": app["client_id"]})
    claims.validate()
    assert claims["nonce"] == nonce
    assert claims["preferred_username"] == app["user"]

    refreshed = client.refresh_token(metadata["token_endpoint"],
                                     refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    r = requests.get(f"{emulator_url}/v1.0/me/mailFolders/inbox", timeout=10,
                     headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "Inbox"


def oauthlib_session(emulator_url, app):
    session = OAuthlibSession(app["client_id"], redirect_uri=app["redirect_uri"],
                              scope=["openid", "offline_access", GRAPH_SCOPE], pkce="S256")
    # OAuth2Session is a requests Session: the same transport hook routes the public URLs.
    routed = routed_session(emulator_url)
    session.mount("https://", routed.route)
    session.mount("http://", routed.route)
    return session


def test_requests_oauthlib_code_flow_with_pkce_and_refresh_on_the_public_urls(emulator_url, app):
    tenant = app["tenant_id"]
    session = oauthlib_session(emulator_url, app)
    url, state = session.authorization_url(
        f"{PUBLIC_AUTHORITY}/{tenant}/oauth2/v2.0/authorize")
    assert "code_challenge=" in url
    query = query_of(redirect_location(session, url))
    assert query["state"] == state
    token_url = f"{PUBLIC_AUTHORITY}/{tenant}/oauth2/v2.0/token"
    token = session.fetch_token(token_url, code=query["code"],
                                client_secret=app["client_secret"], include_client_id=True)
    assert "refresh_token" in token
    refreshed = session.refresh_token(token_url, client_id=app["client_id"],
                                      client_secret=app["client_secret"])
    assert refreshed["access_token"] != token["access_token"]

    # Graph through the same routed session: Host graph.microsoft.com, so the emulator's
    # nextLink is the public one, and following it goes through the same route again.
    r = session.get(f"https://graph.microsoft.com/v1.0/users/{app['mailbox']}"
                    f"/mailFolders/inbox/messages?$select=subject&$top=2")
    assert r.status_code == 200, r.text
    page = r.json()
    next_link = page["@odata.nextLink"]
    assert next_link.startswith("https://graph.microsoft.com/v1.0/users/"), next_link
    assert page["@odata.context"].startswith("https://graph.microsoft.com/v1.0/$metadata#users(")
    r = session.get(next_link)
    assert r.status_code == 200, r.text
    assert len(r.json()["value"]) == 2


def test_requests_oauthlib_failed_pkce_redemption_burns_the_code(emulator_url, app):
    from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

    tenant = app["tenant_id"]
    session = oauthlib_session(emulator_url, app)
    url, _ = session.authorization_url(f"{PUBLIC_AUTHORITY}/{tenant}/oauth2/v2.0/authorize")
    code = query_of(redirect_location(session, url))["code"]
    token_url = f"{PUBLIC_AUTHORITY}/{tenant}/oauth2/v2.0/token"
    # Another session has its own PKCE verifier: redeeming this code with it fails.
    other = oauthlib_session(emulator_url, app)
    other.authorization_url(f"{PUBLIC_AUTHORITY}/{tenant}/oauth2/v2.0/authorize")
    with pytest.raises(InvalidGrantError, match="AADSTS501481"):
        other.fetch_token(token_url, code=code, client_secret=app["client_secret"],
                          include_client_id=True)
    # The right verifier no longer helps: Entra burnt the code.
    with pytest.raises(InvalidGrantError, match="AADSTS70000"):
        session.fetch_token(token_url, code=code, client_secret=app["client_secret"],
                            include_client_id=True)


def msal_app(emulator_url, app):
    import msal

    session = routed_session(emulator_url)
    client = msal.ConfidentialClientApplication(
        app["client_id"], client_credential=app["client_secret"],
        authority=f"{PUBLIC_AUTHORITY}/{app['tenant_id']}", http_client=session)
    return client, session


def test_msal_client_credentials(emulator_url, app):
    client, session = msal_app(emulator_url, app)
    result = client.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert "access_token" in result, result
    # MSAL started from the emulator's OpenID Connect discovery document.
    paths = [p for (_, _, p) in session.route.sent]
    assert f"/{app['tenant_id']}/v2.0/.well-known/openid-configuration" in paths, paths
    r = requests.get(f"{emulator_url}/v1.0/users/{app['mailbox']}/mailFolders/inbox",
                     headers={"Authorization": f"Bearer {result['access_token']}"}, timeout=10)
    assert r.status_code == 200, r.text


def test_msal_auth_code_flow_checks_the_nonce(emulator_url, app):
    client, session = msal_app(emulator_url, app)
    flow = client.initiate_auth_code_flow([GRAPH_SCOPE], redirect_uri=app["redirect_uri"])
    assert "nonce=" in flow["auth_uri"] and "code_challenge=" in flow["auth_uri"]
    response = query_of(redirect_location(session, flow["auth_uri"]))
    # MSAL refuses an id_token whose nonce is not the one it sent.
    result = client.acquire_token_by_auth_code_flow(flow, response)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == app["user"]
    assert result["id_token_claims"]["aud"] == app["client_id"]


def test_azure_identity_client_secret_credential(emulator_url, app):
    from azure.core.pipeline.transport import RequestsTransport
    from azure.identity import ClientSecretCredential

    session = routed_session(emulator_url)
    credential = ClientSecretCredential(
        app["tenant_id"], app["client_id"], app["client_secret"],
        transport=RequestsTransport(session=session, session_owner=False))
    token = credential.get_token("https://graph.microsoft.com/.default")
    assert token.token and token.expires_on > 0
    r = requests.get(f"{emulator_url}/v1.0/users/{app['mailbox']}/messages?$top=1",
                     headers={"Authorization": f"Bearer {token.token}"}, timeout=10)
    assert r.status_code == 200, r.text
