"""A small OpenAI-compatible completions server for a local HF model, with a real weight reload: tests and CPU runs.

The production servers (vLLM, SGLang) do not run on these CPU machines, and ``transformers serve`` has no
reload endpoint, so this stands in for them with the routes the ``server`` backend uses:

- ``GET /v1/models``;
- ``POST /v1/completions``: ``prompt`` as text, token ids, or a list of either; ``max_tokens``, ``temperature``
  (0 = greedy), ``top_p``, ``return_token_ids`` (vLLM's extension). All prompts of a request are generated as one
  left-padded batch by ``training.rl.rollout.generate_batch`` — the local backend's own code — so greedy
  rollouts are token-identical to the local backend's. Replies carry ``weights_version``;
- ``POST /reload {"path", "version"}`` and SGLang's ``POST /update_weights_from_disk {"model_path"}``: load the
  weights from an HF folder (``from_pretrained``) and swap them in between requests.

    python -m training.generation.testserver --model work/tiny --port 8011
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from synthesis.testing.server import BackgroundServer


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # bursts of concurrent requests otherwise fail with connection errors
    daemon_threads = True
    allow_reuse_address = True


class ModelServer(BackgroundServer):
    def __init__(self, model_dir: str | Path, port: int = 0, served_name: str | None = None) -> None:
        from transformers import AutoTokenizer

        self.model_dir = Path(model_dir)
        self.tok = AutoTokenizer.from_pretrained(str(model_dir))
        self.served_name = served_name or self.model_dir.name
        self.version: int | None = 0  # the trainer's step of the weights served (None: unknown)
        self.loaded_from = str(model_dir)
        self.reloads = 0
        self.requests = 0
        self._lock = threading.Lock()  # one model: requests and reloads take turns
        self.model = self._load(self.model_dir)
        self._httpd = _Server(("127.0.0.1", port), self._handler())
        self._thread: threading.Thread | None = None

    @staticmethod
    def _load(path: Path) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()

    # -- work ------------------------------------------------------------------------------------
    def reload(self, path: str, version: int | None = None) -> dict[str, Any]:
        if not Path(path, "config.json").is_file():
            raise FileNotFoundError(f"{path}: not an HF model folder (no config.json)")
        model = self._load(Path(path))  # loaded outside the lock: requests keep being served meanwhile
        with self._lock:
            self.model, self.loaded_from = model, str(path)
            self.version = None if version is None else int(version)  # SGLang's route names no version
            self.reloads += 1
        return {"success": True, "version": self.version, "message": f"loaded {path}"}

    def _prompts(self, prompt: Any) -> list[list[int]]:
        if isinstance(prompt, str):
            prompt = [prompt]
        if isinstance(prompt, list) and prompt and all(isinstance(x, int) for x in prompt):
            prompt = [prompt]
        if not isinstance(prompt, list) or not prompt:
            raise ValueError("prompt must be a string, a list of token ids, or a non-empty list of either")
        out = []
        for p in prompt:
            if isinstance(p, str):
                out.append(self.tok(p, add_special_tokens=False)["input_ids"])
            elif isinstance(p, list) and p and all(isinstance(t, int) and 0 <= t < len(self.tok) for t in p):
                out.append(p)
            else:
                raise ValueError("each prompt must be a string or a non-empty list of valid token ids")
        return out

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        from ..rl.rollout import GenConfig, generate_batch

        prompts = self._prompts(body.get("prompt"))
        n_new = int(body.get("max_tokens") or 16)
        cfg = GenConfig(max_new_tokens=n_new, temperature=float(body.get("temperature", 1.0)),
                        top_p=float(body.get("top_p", 1.0)))
        with self._lock:
            if body.get("seed") is not None:
                import torch

                torch.manual_seed(int(body["seed"]))
            outs = generate_batch(self.model, self.tok, prompts, cfg)
            version = self.version
            self.requests += 1
        skip = bool(body.get("skip_special_tokens", True))
        choices = []
        for i, (ids, stopped) in enumerate(outs):
            c = {"index": i, "text": self.tok.decode(ids, skip_special_tokens=skip),
                 "finish_reason": "stop" if stopped else "length", "logprobs": None}
            if body.get("return_token_ids"):
                c["token_ids"], c["prompt_token_ids"] = ids, prompts[i]
            choices.append(c)
        n_in, n_out = sum(map(len, prompts)), sum(len(x) for x, _ in outs)
        return {"id": f"cmpl-{self.requests}", "object": "text_completion", "created": int(time.time()),
                "model": self.served_name, "choices": choices, **({} if version is None else {"weights_version": version}),
                "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}}

    # -- HTTP ------------------------------------------------------------------------------------
    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, obj: dict[str, Any]) -> None:
                payload = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _error(self, status: int, message: str) -> None:
                self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

            def do_GET(self) -> None:
                path = self.path.rstrip("/")
                if path.endswith("/models"):
                    return self._send(200, {"object": "list", "data": [
                        {"id": server.served_name, "object": "model", "owned_by": "huijin",
                         "weights_version": server.version, "root": server.loaded_from}]})
                if path in ("/health", "/v1/health"):
                    return self._send(200, {"status": "ok", "weights_version": server.version})
                self._error(404, f"no route {self.path}")

            def do_POST(self) -> None:
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                except json.JSONDecodeError:
                    return self._error(400, "request body is not JSON")
                path = self.path.rstrip("/")
                try:
                    if path.endswith("/completions") and not path.endswith("/chat/completions"):
                        if body.get("model") not in (None, server.served_name):
                            return self._error(404, f"model {body.get('model')!r} is not served here")
                        return self._send(200, server.complete(body))
                    if path == "/reload":
                        return self._send(200, server.reload(body["path"], body.get("version")))
                    if path == "/update_weights_from_disk":  # SGLang's route and body
                        return self._send(200, server.reload(body["model_path"]))
                except (KeyError, ValueError, FileNotFoundError, OSError) as e:
                    return self._error(400, f"{type(e).__name__}: {e}")
                self._error(404, f"no route {self.path}")

        return Handler


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description="OpenAI-compatible completions server for a local HF model")
    ap.add_argument("--model", required=True, help="HF model folder (weights and tokenizer)")
    ap.add_argument("--port", type=int, default=8011)
    ap.add_argument("--name", default=None, help="served model name (default: the folder's name)")
    a = ap.parse_args()
    srv = ModelServer(a.model, port=a.port, served_name=a.name).start()
    print(srv.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()
