"""GRPO's reward across processes: under `accelerate launch` each training process scores the completions it
generated, but the reward needs the store and the Lean pool, which stay in the driver. The driver serves its
LeanReward on a loopback port (RewardServer); each process's RemoteReward posts its completions there and
gets their rewards back. One Lean pool and one store writer serve every process, the rollouts of each
stored with the rank that made them, and the driver keeps the reward's counts for the checkpoint's metrics.

The port answers loopback only, and only a request carrying the token the driver hands its children in
FLYWHEEL_REWARD_TOKEN: another local user cannot make the driver store rollouts."""

from __future__ import annotations

import hmac
import http.client
import http.server
import json
import os
import secrets
import threading
import urllib.parse
from typing import Sequence

from flywheel.errors import FlywheelError

TOKEN_ENV = "FLYWHEEL_REWARD_TOKEN"
PATH = "/reward"
MOST_BYTES = 256 << 20  # a request larger than this is refused before it is read


class RewardError(FlywheelError):
    """The reward service refused a request or could not be reached; the message says which and why."""


class RewardServer:
    """Context manager: serves `reward` (a LeanReward) at `url` on a thread of its own until it is left."""

    def __init__(self, reward, host: str = "127.0.0.1"):
        self.reward = reward
        self.token = secrets.token_hex(16)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # the trainer's log is not the place for every step's request
                pass

            def do_POST(self) -> None:
                status, answer = server.answer(self.path, self.headers, self.rfile)
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._http = http.server.ThreadingHTTPServer((host, 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://{host}:{self._http.server_address[1]}{PATH}"
        self._thread = threading.Thread(target=self._http.serve_forever, name="reward-service", daemon=True)

    def __enter__(self) -> "RewardServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()

    def env(self) -> dict[str, str]:
        """What a training process needs in its environment to be served."""
        return {TOKEN_ENV: self.token}

    def answer(self, path: str, headers, body) -> tuple[int, dict]:
        """(HTTP status, JSON answer) of one request: {"rewards": [...]}, or {"error": why}."""
        if path != PATH:
            return 404, {"error": f"no such path {path!r}: the reward is at {PATH}"}
        if not hmac.compare_digest(headers.get("Authorization", ""), f"Bearer {self.token}"):
            return 403, {"error": "wrong or missing token (the driver passes it in FLYWHEEL_REWARD_TOKEN)"}
        try:
            size = int(headers.get("Content-Length", ""))
        except ValueError:
            return 411, {"error": "a request needs its Content-Length"}
        if not 0 <= size <= MOST_BYTES:
            return 413, {"error": f"a request of {size} bytes (at most {MOST_BYTES})"}
        try:
            request = json.loads(body.read(size))
            completions, keys = request["completions"], request["key"]
            step, rank = int(request["step"]), int(request["rank"])
            if not isinstance(completions, list) or not isinstance(keys, list) or len(completions) != len(keys):
                raise ValueError("completions and key must be lists of one length")
        except (ValueError, KeyError, TypeError) as e:
            return 400, {"error": f"malformed request: {type(e).__name__}: {e}"}
        try:
            return 200, {"rewards": self.reward.score(completions, keys, step, rank)}
        except KeyError as e:
            return 400, {"error": f"no prompt of this training has the key {e}"}
        except Exception as e:  # a store that refused rollouts: the training must stop, with the reason
            return 500, {"error": f"{type(e).__name__}: {e}"}


class RemoteReward:
    """The reward function GRPOTrainer calls in a training process: the driver's RewardServer at `url` scores
    this process's completions. Named `lean`, as the in-process reward is, so the logged columns match."""

    def __init__(self, url: str, token: str | None = None, rank: int | None = None, timeout_s: float | None = None):
        self.__name__ = "lean"
        self.url = url
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise RewardError(f"the reward service's URL must be http://host:port{PATH}, got {url!r}")
        self._host, self._port, self._path = parts.hostname, parts.port, parts.path or PATH
        self._token = token if token is not None else os.environ.get(TOKEN_ENV, "")
        self._rank = rank if rank is not None else int(os.environ.get("RANK", "0"))
        self._timeout_s = timeout_s  # None: a step's checks take as long as Lean takes
        self.calls = 0

    def __call__(self, prompts, completions, key, trainer_state=None, **_) -> list[float]:
        step = int(trainer_state.global_step) if trainer_state is not None else self.calls
        self.calls += 1
        return self.post(list(completions), list(key), step)

    def post(self, completions: Sequence, keys: Sequence[str], step: int) -> list[float]:
        body = json.dumps({"completions": list(completions), "key": list(keys), "step": step,
                           "rank": self._rank}).encode()
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
        try:
            conn.request("POST", self._path, body, {"Content-Type": "application/json",
                                                    "Authorization": f"Bearer {self._token}"})
            answer = conn.getresponse()
            status, data = answer.status, answer.read()
        except OSError as e:
            raise RewardError(f"the reward service at {self.url} cannot be reached: {e}") from e
        finally:
            conn.close()
        try:
            decoded = json.loads(data)
        except ValueError:
            decoded = {"error": data[:200].decode(errors="replace")}
        if status != 200:
            raise RewardError(f"the reward service at {self.url} answered {status}: {decoded.get('error')}")
        rewards = decoded.get("rewards")
        if not isinstance(rewards, list) or len(rewards) != len(keys):
            raise RewardError(f"the reward service at {self.url} answered {len(rewards or [])} rewards for "
                              f"{len(keys)} completions")
        return [float(r) for r in rewards]
