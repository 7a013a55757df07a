"""A loopback stand-in for the GitHub GraphQL API, enough for the real `gh` to create a draft
pull request (with labels and reviewers) and to comment on it. Reached over https with a
throw-away CA: `GH_HOST=127.0.0.1:<port>`, `GH_ENTERPRISE_TOKEN`, `SSL_CERT_FILE`; gh then
posts to https://<GH_HOST>/api/graphql. Every request is recorded for the test to read.

Answers are the minimum gh 2.23 reads: RepositoryInfo, PullRequestForBranch (none yet),
RepositoryResolveMetadataIDs (users and labels by alias), PullRequestCreate, the metadata and
review mutations, PullRequestByNumber and CommentCreate."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from serverfixtures import Tls


@dataclass
class Call:
    path: str
    operation: str
    variables: dict[str, Any]
    authorization: str


@dataclass
class GitHubStub:
    port: int
    owner: str = "me"
    name: str = "p"
    calls: list[Call] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def repo(self) -> str:
        return f"{self.host}/{self.owner}/{self.name}"

    def url(self, number: int) -> str:
        return f"https://{self.host}/{self.owner}/{self.name}/pull/{number}"

    def operations(self) -> list[str]:
        return [c.operation for c in self.calls]

    def answer(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        match = re.search(r"(?:query|mutation)\s+(\w+)", query)
        operation = match.group(1) if match else ""
        repo = {"id": "R_1", "name": self.name, "owner": {"login": self.owner},
                "hasIssuesEnabled": True, "description": "", "hasWikiEnabled": False,
                "viewerPermission": "ADMIN", "defaultBranchRef": {"name": "main"},
                "parent": None, "mergeCommitAllowed": True, "rebaseMergeAllowed": True,
                "squashMergeAllowed": True}
        if operation == "RepositoryInfo":
            return {"repository": repo}
        if operation == "PullRequestForBranch":
            return {"repository": {"pullRequests": {"nodes": []}}}
        if operation == "RepositoryResolveMetadataIDs":
            data: dict[str, Any] = {"repository": {}}
            for alias, login in re.findall(r'(u\d+): user\(login:"([^"]+)"\)', query):
                data[alias] = {"id": f"U_{login}", "login": login}
            for alias, label in re.findall(r'(l\d+): label\(name:"([^"]+)"\)', query):
                data["repository"][alias] = {"id": f"L_{label}", "name": label}
            return data
        if operation == "PullRequestCreate":
            return {"createPullRequest": {"pullRequest": {"id": "PR_7", "url": self.url(7)}}}
        if operation == "PullRequestByNumber":
            number = int(variables.get("pr_number", 0))
            return {"repository": {"pullRequest": {"id": f"PR_{number}", "number": number,
                                                   "url": self.url(number)}}}
        if operation == "CommentCreate":
            return {"addComment": {"commentEdge": {"node": {"url": self.url(7) + "#c1"}}}}
        return {}  # PullRequestCreateMetadata, PullRequestCreateRequestReviews: no payload read


def _handler(stub: GitHubStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            size = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(size) or b"{}")
            query, variables = request.get("query", ""), request.get("variables") or {}
            match = re.search(r"(?:query|mutation)\s+(\w+)", query)
            stub.calls.append(Call(self.path, match.group(1) if match else "", variables,
                                   self.headers.get("Authorization", "")))
            body = json.dumps({"data": stub.answer(query, variables)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def github_stub(tls: Tls) -> Iterator[GitHubStub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(GitHubStub(0)))
    stub = GitHubStub(server.server_address[1])
    server.RequestHandlerClass = _handler(stub)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls.cert), str(tls.key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
