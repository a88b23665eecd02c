#!/usr/bin/env python3
"""A reference host user API for UAP (docs/host-api.md): stdlib only.
Serves the users of a SQLite table `users` (id, username, email, password, role, is_active).
Env: HOST_API_DB (sqlite file), HOST_API_KEY (bearer key), HOST_API_PORT [8081]."""
import hmac, json, os, re, sqlite3
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DB, KEY = os.environ["HOST_API_DB"], os.environ["HOST_API_KEY"]
LOOKUP = ("id", "username", "email")  # fields UAP may send; never interpolate anything else

def row(field, value):
    with sqlite3.connect(DB) as db:
        db.row_factory = sqlite3.Row
        found = db.execute(f"SELECT * FROM users WHERE {field} = ?", (value,)).fetchone()
    return dict(found) if found else None

class Host(BaseHTTPRequestHandler):
    def answer(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        ok = hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {KEY}")
        return ok or self.answer(401, {"error": "unauthorized"})

    def do_GET(self):
        if not self.authorized():
            return
        roles = re.fullmatch(r"/users/([^/]+)/roles", self.path)
        if self.path == "/health":
            return self.answer(200, {"status": "ok"})
        user = roles and row("id", roles.group(1))
        self.answer(200, {"roles": [user["role"]]}) if user else self.answer(404, {"error": "not found"})

    def do_POST(self):
        if not self.authorized():
            return
        query = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        field = next((f for f in LOOKUP if f in query), None)
        user = self.path == "/auth/validate" and field and row(field, str(query[field]))
        self.answer(200, user) if user else self.answer(404, {"error": "no such user"})

ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("HOST_API_PORT", "8081"))), Host).serve_forever()
