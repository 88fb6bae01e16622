"""Checks of the OpenAPI document that schemathesis does not make.

    check.py validate OPENAPI.json DOCS.html
    check.py serve URL OPENAPI.json TOKEN

Prints one "ok - ..." or "not ok - ..." line per check; exits 1 if any
failed.
"""

import json
import sys
import urllib.error
import urllib.request

from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

results = []


def check(ok, what):
    results.append(bool(ok))
    print(("ok - " if ok else "not ok - ") + what)


def fetch(url, method="GET", headers=None):
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def operations(doc):
    methods = ("get", "put", "post", "delete", "patch", "head", "options")
    for path, item in doc["paths"].items():
        for method in item:
            if method in methods:
                yield method.upper(), path, item[method]


def cmd_validate(doc_path, html_path):
    spec, _ = read_from_filename(doc_path)
    try:
        validate(spec)
        check(True, "the document is valid OpenAPI " + spec["openapi"])
    except Exception as e:  # noqa: BLE001 - any validation error fails
        check(False, "the document is valid OpenAPI: %s" % e)

    html = open(html_path, encoding="utf-8").read()
    missing = [m + " " + p for m, p, _ in operations(spec)
               if "<td>%s</td><td><code>%s</code>" % (m, p) not in html]
    check(not missing, "/docs lists every operation of the document"
          + (": missing " + ", ".join(missing) if missing else ""))

    ids = [op.get("operationId") for _, _, op in operations(spec)]
    check(None not in ids and len(ids) == len(set(ids)),
          "every operation has its own operationId")

    left = [p for p in spec["paths"]
            if p in ("/register", "/secondary/register", "/replicate",
                     "/reset")]
    check(not left, "node-to-node endpoints stay out of the client document")


def cmd_serve(url, doc_path, token):
    raw = open(doc_path, "rb").read()

    status, headers, body = fetch(url + "/openapi.json")
    check(status == 200, "GET /openapi.json without a token: 200 (%d)"
          % status)
    check(headers.get("Content-Type") == "application/json",
          "GET /openapi.json is application/json (%s)"
          % headers.get("Content-Type"))
    check(body == raw, "GET /openapi.json serves the repository's document "
          "byte for byte")
    try:
        version = str(json.loads(body).get("openapi"))
    except (ValueError, AttributeError):
        version = "not JSON"
    check(version.startswith("3."),
          "GET /openapi.json is an OpenAPI 3 document (%s)" % version)

    status, headers, body = fetch(url + "/openapi.json", method="HEAD")
    check(status == 200 and body == b""
          and headers.get("Content-Length") == str(len(raw)),
          "HEAD /openapi.json: 200, the length, no body")

    status, headers, body = fetch(url + "/docs")
    page = body.decode("utf-8", "replace")
    check(status == 200
          and headers.get("Content-Type", "").startswith("text/html")
          and 'href="openapi.json"' in page and "<script" not in page,
          "GET /docs without a token: an HTML page naming openapi.json, "
          "no scripts")

    status, headers, body = fetch(url + "/openapi.json", method="POST")
    check(status == 405 and headers.get("Allow") == "GET, HEAD"
          and b'"error":' in body,
          "POST /openapi.json: 405, Allow: GET, HEAD, a JSON error")

    status, _, _ = fetch(url + "/health")
    check(status == 403, "the token is still needed elsewhere: GET /health "
          "without it is 403 (%d)" % status)

    status, _, _ = fetch(url + "/health", headers={"x-token": token})
    check(status == 200, "GET /health with the token: 200 (%d)" % status)


if __name__ == "__main__":
    try:
        if sys.argv[1] == "validate":
            cmd_validate(sys.argv[2], sys.argv[3])
        else:
            cmd_serve(sys.argv[2], sys.argv[3], sys.argv[4])
    except Exception as e:  # noqa: BLE001 - a crash is a failed check
        check(False, "check.py %s stopped: %r" % (sys.argv[1], e))

    sys.exit(0 if all(results) else 1)
