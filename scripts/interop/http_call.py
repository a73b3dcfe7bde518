"""One HTTP request with the standard library, for the load scripts: never raises."""
import json
import urllib.error
import urllib.request


def call(base, method, path, token=None, body=None, ctype="application/json"):
    """Returns (status, headers, body); status 0 when there was no answer (a connection reset
    by a killed instance, a timeout)."""
    headers = {"Authorization": "Bearer " + token} if token else {}
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = ctype
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except Exception as e:  # no answer at all
        return 0, {}, str(e).encode()
