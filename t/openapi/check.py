"""Checks of the OpenAPI document that schemathesis does not make.

    check.py validate OPENAPI.json DOCS.html
    check.py serve URL OPENAPI.json TOKEN
    check.py stalled URL OPENAPI.json TOKEN   (the master, its secondary
                                               stopped: answers schemathesis
                                               cannot reach)

Prints one "ok - ..." or "not ok - ..." line per check; exits 1 if any
failed.
"""

import json
import sys
import urllib.error
import urllib.request

from openapi_schema_validator import OAS30Validator
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

    status, headers, body = fetch(url + "/healthcheck")
    check(status == 200 and body == b"HEALTHY"
          and headers.get("Content-Type", "").startswith("text/plain"),
          "GET /healthcheck without a token: text, exactly HEALTHY (%r)"
          % body[:20])

    status, headers, body = fetch(url + "/openapi.json", method="POST")
    check(status == 405 and headers.get("Allow") == "GET, HEAD"
          and b'"error":' in body,
          "POST /openapi.json: 405, Allow: GET, HEAD, a JSON error")

    status, _, _ = fetch(url + "/health")
    check(status == 403, "the token is still needed elsewhere: GET /health "
          "without it is 403 (%d)" % status)

    status, _, _ = fetch(url + "/health", headers={"x-token": token})
    check(status == 200, "GET /health with the token: 200 (%d)" % status)


def deref(doc, obj):
    while "$ref" in obj:
        node = doc
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def conforms(doc, method, path, status, body):
    """The errors of an answer against the document's response schema."""
    responses = doc["paths"][path][method.lower()]["responses"]
    if str(status) not in responses:
        return ["status %d is not documented for %s %s"
                % (status, method, path)]
    response = deref(doc, responses[str(status)])
    schema = response["content"]["application/json"]["schema"]
    try:
        value = json.loads(body)
    except ValueError as e:
        return ["not JSON: %s" % e]
    root = dict(schema, components=doc["components"])
    return [e.message for e in OAS30Validator(root).iter_errors(value)]


def cmd_stalled(url, doc_path, token):
    doc = json.load(open(doc_path, encoding="utf-8"))
    auth = {"x-token": token, "Content-Type": "application/json"}

    req = urllib.request.Request(
        url + "/messages?wc=2&timeout=300", method="POST", headers=auth,
        data=b'{"message":"while the secondary is stopped"}')
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()

    errors = conforms(doc, "POST", "/messages", status, body)
    check(status == 504 and not errors,
          "wc=2 with the secondary stopped: 504 as documented (%d%s)"
          % (status, ": " + "; ".join(errors) if errors else ""))

    for path in ("/secondaries", "/secondary/list", "/health"):
        status, _, body = fetch(url + path, headers={"x-token": token})
        errors = conforms(doc, "GET", path, status, body)
        check(status == 200 and not errors,
              "GET %s with the secondary stopped: as documented (%d%s)"
              % (path, status, ": " + "; ".join(errors) if errors else ""))


if __name__ == "__main__":
    try:
        if sys.argv[1] == "validate":
            cmd_validate(sys.argv[2], sys.argv[3])
        elif sys.argv[1] == "stalled":
            cmd_stalled(sys.argv[2], sys.argv[3], sys.argv[4])
        else:
            cmd_serve(sys.argv[2], sys.argv[3], sys.argv[4])
    except Exception as e:  # noqa: BLE001 - a crash is a failed check
        check(False, "check.py %s stopped: %r" % (sys.argv[1], e))

    sys.exit(0 if all(results) else 1)
