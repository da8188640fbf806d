"""A real SAML 2.0 identity provider (pysaml2) for VectorOS's SSO tests: `python idp.py PORT`.

GET /metadata         the IdP's metadata (entity id, HTTP-Redirect sign-on URL, signing certificate)
GET /sso/redirect     an SP's AuthnRequest (HTTP-Redirect binding) → a sign-in form that asks for an email
POST /sso/login       → a signed Response with that email (mail, NameID emailAddress), posted to the SP's ACS

It learns a service provider the way real IdPs are often set up: by reading the metadata at the SP's entity id
(allauth's SP entity id is its metadata URL) the first time that SP sends a request. The signing key is made
afresh at start-up. It prints "ready <base url>" once it listens. Test use only: it authenticates anyone.
"""

from __future__ import annotations

import datetime
import html
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import AUTHN_PASSWORD, NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256


def _key_and_cert(folder: Path) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "VectorOS test IdP")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = folder / "idp.key", folder / "idp.crt"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


def build_server(base: str, folder: Path) -> Server:
    key_file, cert_file = _key_and_cert(folder)
    config = IdPConfig()
    config.load(
        {
            "entityid": f"{base}/metadata",
            "service": {
                "idp": {
                    "name": "VectorOS test IdP",
                    "endpoints": {"single_sign_on_service": [(f"{base}/sso/redirect", BINDING_HTTP_REDIRECT)]},
                    "policy": {"default": {"lifetime": {"minutes": 15}, "name_form": NAME_FORMAT_URI}},
                    "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                    "want_authn_requests_signed": False,
                }
            },
            "key_file": key_file,
            "cert_file": cert_file,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "metadata": {},
        }
    )
    return Server(config=config)


class IdP:
    def __init__(self, base: str, server: Server) -> None:
        self.base, self.server = base, server
        self.known_sps: set[str] = set()

    def _learn_sp(self, entity_id: str) -> None:
        if entity_id in self.known_sps:
            return
        with urllib.request.urlopen(entity_id, timeout=10) as response:  # noqa: S310 - an http(s) entity id
            self.server.metadata.load("inline", response.read().decode())
        self.known_sps.add(entity_id)

    def __call__(self, environ, start_response):
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        try:
            if path == "/metadata":
                body = create_metadata_string(None, self.server.config, valid=None, sign=False).decode()
                return self._reply(start_response, "200 OK", body, "text/xml")
            if path == "/sso/redirect" and method == "GET":
                query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
                request = self.server.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
                self._learn_sp(request.message.issuer.text)
                return self._reply(start_response, "200 OK", self._form(query), "text/html")
            if path == "/sso/login" and method == "POST":
                size = int(environ.get("CONTENT_LENGTH") or 0)
                form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(size).decode()).items()}
                return self._reply(start_response, "200 OK", self._respond(form), "text/html")
            return self._reply(start_response, "404 Not Found", "not found", "text/plain")
        except Exception as exc:  # a test IdP: show the reason rather than hang up
            return self._reply(start_response, "400 Bad Request", f"{type(exc).__name__}: {exc}", "text/plain")

    def _form(self, query: dict[str, str]) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">'
            for name in ("SAMLRequest", "RelayState")
        )
        return (
            "<!doctype html><title>Test IdP sign-in</title><h1>VectorOS test IdP</h1>"
            f'<form method="post" action="{self.base}/sso/login">{hidden}'
            '<label>Email <input type="email" name="email" required></label>'
            '<button type="submit">Sign in to the IdP</button></form>'
        )

    def _respond(self, form: dict[str, str]) -> str:
        request = self.server.parse_authn_request(form["SAMLRequest"], BINDING_HTTP_REDIRECT).message
        email = form["email"].strip().lower()
        given = email.split("@")[0]
        acs_url = request.assertion_consumer_service_url
        response = self.server.create_authn_response(
            identity={"mail": [email], "givenName": [given], "sn": ["Tester"]},
            in_response_to=request.id,
            destination=acs_url,
            sp_entity_id=request.issuer.text,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=email),
            authn={"class_ref": AUTHN_PASSWORD, "authn_auth": self.base},
            sign_assertion=True,
            sign_response=True,
            sign_alg=SIG_RSA_SHA256,  # python3-saml rejects SHA-1 signatures
            digest_alg=DIGEST_SHA256,
        )
        http_args = self.server.apply_binding(
            BINDING_HTTP_POST, str(response), acs_url, form.get("RelayState", ""), response=True
        )
        return http_args["data"]

    @staticmethod
    def _reply(start_response, status: str, body: str, content_type: str):
        data = body.encode()
        start_response(status, [("Content-Type", f"{content_type}; charset=utf-8"), ("Content-Length", str(len(data)))])
        return [data]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def main() -> None:
    port = int(sys.argv[1])
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="vos-saml-idp-") as folder:
        idp = IdP(base, build_server(base, Path(folder)))
        with make_server("127.0.0.1", port, idp, handler_class=_QuietHandler) as httpd:
            print(f"ready {base}", flush=True)
            httpd.serve_forever()


if __name__ == "__main__":
    main()
