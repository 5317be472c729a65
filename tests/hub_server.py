"""A small Hugging Face Hub-compatible HTTP server for tests (stdlib only).

The real Hub is out of reach from the test machines, so the Hub tests point the REAL huggingface_hub
client (and transformers through it) at this server with HF_ENDPOINT. It keeps model repos in memory
as commits (full snapshots) and branches, and answers the endpoints that create_repo, create_branch,
upload_folder / create_commit (preupload + NDJSON commit with base64 content), model_info, list_repo_tree,
list_repo_refs, list_repo_commits and hf_hub_download (HEAD/GET resolve) use, with the Hub's error
headers (X-Error-Code: RepoNotFound / RevisionNotFound / EntryNotFound). Every file is answered as a
"regular" upload (no LFS / Xet), which the client supports for any size.

Knobs for failure tests: a wrong bearer token gets 401, a write outside the token's namespaces gets 403,
`fail_with = 500` makes every request answer that status (`fail_with = 404`: a missing repo), and
`fail_path = "/commit/"` narrows that to the requests whose path contains it. `requests` records
(method, path) of every request received, so a test can assert that none was made.

    with HubServer() as hub:
        use_hub(monkeypatch, hub)      # HF_ENDPOINT / HF_TOKEN for this process and its subprocesses
        ...
        hub.files("user/repo")         # {path: bytes} at the head of main
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

GITATTRIBUTES = (
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"
)
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob: what the Hub reports as a regular file's oid and ETag."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    description: str
    files: dict[str, bytes]  # the full snapshot at this commit
    date: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit oid

    def resolve(self, revision: str) -> Commit | None:
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if _HEX40.match(revision):
            return self.commits.get(revision)
        return None


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, **extra):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


class HubServer:
    """The server and its state; `start()`/`stop()` or use it as a context manager."""

    def __init__(
        self,
        token: str = "hf_hfrTestToken0123456789abcdefXYZ",
        user: str = "hfr-tester",
        orgs: tuple[str, ...] = ("hfr-org",),
    ):
        self.token, self.user, self.orgs = token, user, orgs
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_with: int | None = None  # answer every request (or those whose path contains fail_path)
        self.fail_path: str | None = None  # with this status, e.g. 500, or 404 as a missing repo
        self._lock = threading.RLock()
        self._counter = itertools.count()
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> HubServer:
        handler = type("BoundHandler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        with self._lock:
            self.repos.clear()
            self.requests.clear()
            self.fail_with = self.fail_path = None

    # -- inspection for tests ----------------------------------------------------------------------
    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        with self._lock:
            return dict(self._commit(repo_id, revision).files)

    def commits(self, repo_id: str, revision: str = "main") -> list[Commit]:
        """Newest first, following parents from `revision`."""
        with self._lock:
            repo = self.repos[repo_id]
            commit: Commit | None = self._commit(repo_id, revision)
            history = []
            while commit is not None:
                history.append(commit)
                commit = repo.commits.get(commit.parent) if commit.parent else None
            return history

    def branches(self, repo_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self.repos[repo_id].branches)

    def _commit(self, repo_id: str, revision: str) -> Commit:
        repo = self.repos.get(repo_id)
        if repo is None:
            raise KeyError(f"no repo {repo_id}")
        commit = repo.resolve(revision)
        if commit is None:
            raise KeyError(f"no revision {revision} in {repo_id}")
        return commit

    # -- state changes (called with the lock held) -------------------------------------------------
    def _new_commit(
        self, repo: Repo, parent: Commit | None, title: str, description: str, files: dict[str, bytes]
    ) -> Commit:
        seed = f"{repo.repo_id}\n{parent.oid if parent else ''}\n{title}\n{next(self._counter)}\n"
        seed += "".join(f"{path}:{git_blob_sha1(data)}\n" for path, data in sorted(files.items()))
        oid = hashlib.sha1(seed.encode()).hexdigest()
        commit = Commit(oid, parent.oid if parent else None, title, description, files, _now())
        repo.commits[oid] = commit
        return commit


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer  # set on the bound subclass
    protocol_version = "HTTP/1.1"
    server_version = "hfr-test-hub/1.0"
    # Headers and body leave in one write (flushed after each request), without Nagle's delay: otherwise
    # every keep-alive response waits ~40 ms for a delayed ACK.
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass  # keep test output quiet (and never log a header)

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # -- plumbing ----------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        hub = self.hub
        with hub._lock:
            hub.requests.append((method, url.path))
            fail_with = hub.fail_with if hub.fail_path is None or hub.fail_path in url.path else None
        if fail_with is not None:
            message = "Repository not found" if fail_with == 404 else "Internal Error - told to fail"
            headers = {"X-Error-Message": message}
            if fail_with == 404:
                headers["X-Error-Code"] = "RepoNotFound"
            self._send_json(fail_with, {"error": message}, headers, head=method == "HEAD")
            return
        try:
            self._auth_user()
            parts = [unquote(part) for part in url.path.split("/")[1:]]
            query = parse_qs(url.query)
            status, payload, headers = self._route(method, parts, query, body)
        except HubError as error:
            headers = {"X-Error-Message": error.message}
            if error.code:
                headers["X-Error-Code"] = error.code
            self._send_json(
                error.status, {"error": error.message, **error.extra}, headers, head=method == "HEAD"
            )
            return
        except Exception as error:  # a bug of this server: say so instead of dropping the connection
            message = f"test server bug: {type(error).__name__}: {error}"
            self._send_json(
                500, {"error": message}, {"X-Error-Message": message[:200]}, head=method == "HEAD"
            )
            return
        if isinstance(payload, bytes):
            self._send(status, payload, headers, head=method == "HEAD")
        else:
            self._send_json(status, payload, headers, head=method == "HEAD")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, data: bytes, headers: dict[str, str], head: bool = False) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/octet-stream", **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def _send_json(
        self, status: int, payload, headers: dict[str, str] | None = None, head: bool = False
    ) -> None:
        self._send(
            status,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json", **(headers or {})},
            head=head,
        )

    def _auth_user(self) -> str | None:
        """The user of a valid bearer token, None without one; a wrong token is a 401 on any request."""
        authorization = self.headers.get("Authorization")
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token != self.hub.token:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.hub.user

    def _require_write(self, namespace: str) -> None:
        user = self._auth_user()
        if user is None:
            raise HubError(401, "You must be authenticated to write to the Hub")
        if namespace not in (user, *self.hub.orgs):
            raise HubError(403, f"You don't have the rights to write to the namespace {namespace!r}")

    def _repo(self, repo_id: str) -> Repo:
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and self._auth_user() is None):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _revision(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    # -- routes ------------------------------------------------------------------------------------
    def _route(self, method: str, parts: list[str], query: dict, body: bytes):
        hub = self.hub
        with hub._lock:
            if parts[:1] == ["api"]:
                if method == "POST" and parts[1:] == ["repos", "create"]:
                    return self._create_repo(json.loads(body or b"{}"))
                if method == "POST" and parts[1:] == ["validate-yaml"]:
                    return self._validate_yaml(json.loads(body or b"{}"))
                if method == "GET" and parts[1:] == ["whoami-v2"]:
                    return self._whoami()
                if len(parts) >= 4 and parts[1] == "models":
                    return self._model_api(method, f"{parts[2]}/{parts[3]}", parts[4:], query, body)
                raise HubError(404, "Not found")
            if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
                return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]))
            raise HubError(404, "Not found")

    def _model_api(self, method: str, repo_id: str, rest: list[str], query: dict, body: bytes):
        if method == "GET" and not rest:
            return self._model_info(repo_id, "main")
        if method == "GET" and len(rest) == 2 and rest[0] == "revision":
            return self._model_info(repo_id, rest[1])
        if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
            return self._tree(repo_id, rest[1], "/".join(rest[2:]), query)
        if method == "GET" and len(rest) == 1 and rest[0] == "refs":
            return self._refs(repo_id)
        if method == "GET" and len(rest) == 2 and rest[0] == "commits":
            return self._list_commits(repo_id, rest[1])
        if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
            return self._preupload(repo_id, rest[1], json.loads(body or b"{}"))
        if method == "POST" and len(rest) == 2 and rest[0] == "commit":
            return self._commit(repo_id, rest[1], body)
        if method == "POST" and len(rest) == 2 and rest[0] == "branch":
            return self._create_branch(repo_id, rest[1], json.loads(body or b"{}"))
        if method == "DELETE" and len(rest) == 2 and rest[0] == "branch":
            return self._delete_branch(repo_id, rest[1])
        raise HubError(404, "Not found")

    def _create_repo(self, payload: dict):
        name, namespace = payload.get("name"), payload.get("organization") or self._auth_user()
        if payload.get("type", "model") != "model":
            raise HubError(400, "this test server only hosts model repos")
        if not name or not namespace:
            raise HubError(400, "a repo needs a name and a namespace")
        self._require_write(namespace)
        repo_id = f"{namespace}/{name}"
        url = f"{self.hub.url}/{repo_id}"
        if repo_id in self.hub.repos:
            raise HubError(409, "You already created this model repo", url=url)
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        repo = Repo(repo_id, private)
        commit = self.hub._new_commit(repo, None, "initial commit", "", {".gitattributes": GITATTRIBUTES})
        repo.branches["main"] = commit.oid
        self.hub.repos[repo_id] = repo
        return 200, {"url": url, "name": repo_id, "id": repo_id}, {}

    def _validate_yaml(self, payload: dict):
        content = payload.get("content", "")
        if content.startswith("---") and "\n---" not in content[3:]:
            raise HubError(400, "metadata block is not closed with ---")
        return 200, {"warnings": []}, {}

    def _whoami(self):
        if self._auth_user() is None:
            raise HubError(401, "You must be authenticated")
        orgs = [{"name": org, "type": "org", "roleInOrg": "write"} for org in self.hub.orgs]
        return (
            200,
            {
                "type": "user",
                "name": self.hub.user,
                "orgs": orgs,
                "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}},
            },
            {},
        )

    def _model_info(self, repo_id: str, revision: str):
        repo = self._repo(repo_id)
        commit = self._revision(repo, revision)
        info = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit.oid,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "lastModified": commit.date,
            "createdAt": commit.date,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "library_name": "transformers",
            "siblings": [
                {"rfilename": path, "size": len(data)} for path, data in sorted(commit.files.items())
            ],
        }
        if "config.json" in commit.files:
            try:
                config = json.loads(commit.files["config.json"])
                info["config"] = {
                    key: config[key] for key in ("architectures", "model_type", "auto_map") if key in config
                }
            except ValueError:
                pass
        return 200, info, {}

    def _tree(self, repo_id: str, revision: str, path: str, query: dict):
        repo = self._repo(repo_id)
        commit = self._revision(repo, revision)
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = f"{path.rstrip('/')}/" if path else ""
        entries, folders = [], set()
        for file_path, data in sorted(commit.files.items()):
            if not file_path.startswith(prefix):
                continue
            rest = file_path[len(prefix) :].split("/")
            for depth in range(1, len(rest) if recursive else min(len(rest), 2)):
                folders.add(prefix + "/".join(rest[:depth]))
            if recursive or len(rest) == 1:
                entries.append(
                    {"type": "file", "path": file_path, "size": len(data), "oid": git_blob_sha1(data)}
                )
        if path and not entries and not folders:
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound")
        entries += [
            {"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest(), "size": 0}
            for folder in sorted(folders)
        ]
        return 200, entries, {}

    def _refs(self, repo_id: str):
        repo = self._repo(repo_id)
        branches = [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid}
            for name, oid in sorted(repo.branches.items())
        ]
        return 200, {"branches": branches, "converts": [], "tags": [], "pullRequests": []}, {}

    def _list_commits(self, repo_id: str, revision: str):
        repo = self._repo(repo_id)
        self._revision(repo, revision)
        history = self.hub.commits(repo_id, revision)
        return (
            200,
            [
                {
                    "id": c.oid,
                    "title": c.title,
                    "message": c.description,
                    "date": c.date,
                    "authors": [{"user": self.hub.user, "avatar": ""}],
                }
                for c in history
            ],
            {},
        )

    def _preupload(self, repo_id: str, revision: str, payload: dict):
        repo = self._repo(repo_id)
        self._require_write(repo_id.split("/")[0])
        commit = self._revision(repo, revision)
        files = []
        for entry in payload.get("files", []):
            existing = commit.files.get(entry["path"])
            files.append(
                {
                    "path": entry["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": git_blob_sha1(existing) if existing is not None else None,
                }
            )
        return 200, {"files": files, "commitOid": commit.oid}, {}

    def _commit(self, repo_id: str, revision: str, body: bytes):
        repo = self._repo(repo_id)
        self._require_write(repo_id.split("/")[0])
        parent = self._revision(repo, revision)
        if revision not in repo.branches:
            raise HubError(400, f"can only commit on a branch, not {revision}")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the first NDJSON line must be the commit header")
        header = lines[0]["value"]
        if header.get("parentCommit") and header["parentCommit"] != parent.oid:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(parent.files)
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, "file content must be base64")
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubError(404, f"{value['path']} does not exist", "EntryNotFound")
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {path: data for path, data in files.items() if not path.startswith(folder)}
            else:  # lfsFile: never asked for, since preupload answers "regular" for everything
                raise HubError(400, f"unsupported commit operation {key!r}")
        commit = self.hub._new_commit(
            repo, parent, header.get("summary", ""), header.get("description", ""), files
        )
        repo.branches[revision] = commit.oid
        commit_url = f"{self.hub.url}/{repo_id}/commit/{commit.oid}"
        return (
            200,
            {"success": True, "commitOid": commit.oid, "commitUrl": commit_url, "pullRequestUrl": None},
            {},
        )

    def _create_branch(self, repo_id: str, branch: str, payload: dict):
        repo = self._repo(repo_id)
        self._require_write(repo_id.split("/")[0])
        if branch in repo.branches:
            raise HubError(409, f"Reference refs/heads/{branch} already exists")
        start = self._revision(repo, payload.get("startingPoint") or "main")
        repo.branches[branch] = start.oid
        return 200, {}, {}

    def _delete_branch(self, repo_id: str, branch: str):
        repo = self._repo(repo_id)
        self._require_write(repo_id.split("/")[0])
        if branch == "main" or repo.branches.pop(branch, None) is None:
            raise HubError(400 if branch == "main" else 404, f"cannot delete branch {branch}")
        return 200, {}, {}

    def _resolve(self, repo_id: str, revision: str, path: str):
        repo = self._repo(repo_id)
        commit = self._revision(repo, revision)
        data = commit.files.get(path)
        if data is None:
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound")
        headers = {"ETag": f'"{git_blob_sha1(data)}"', "X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes"}
        byte_range = self.headers.get("Range")
        if byte_range and byte_range.startswith("bytes="):
            start_text, _, end_text = byte_range[len("bytes=") :].partition("-")
            start, end = int(start_text or 0), int(end_text) if end_text else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return 206, data[start : end + 1], headers
        return 200, data, headers


def use_hub(monkeypatch, hub: HubServer, token: str | None = None) -> None:
    """Point huggingface_hub (already imported in this process) and any subprocess at `hub`.

    huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, at import time, and tests/conftest.py sets
    HF_HUB_OFFLINE=1 for the session, so both the environment (for subprocesses) and the module constants
    (for this process) are patched; transformers' cached HfApi is dropped so it is rebuilt on the new
    endpoint. `token` (default: the server's valid token) goes to HF_TOKEN.
    """
    from huggingface_hub import constants

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", hub.token if token is None else token)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    try:
        import transformers.utils.hub as transformers_hub

        monkeypatch.setattr(transformers_hub, "_hf_api", None)
    except ImportError:
        pass


def resolve_url(hub: HubServer, repo_id: str, path: str, revision: str = "main") -> str:
    return f"{hub.url}/{repo_id}/resolve/{quote(revision, safe='')}/{path}"
