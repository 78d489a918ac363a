"""Fake priors backends: an in-process one, and an OpenAI-compatible server.

``Scripted(fn)``: a backend whose answer is ``fn(prompt, attempt)``, keeping every call.
``FakeServer(script)``: a chat-completions server on 127.0.0.1, run in a thread;
``script(n, body) -> (status, headers, payload | bytes)`` is called for the n-th request
(0-based). Every request's headers and JSON body are kept in ``.requests``.
``sensible`` answers each prompt kind the way a good model would.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sugar_core.priors.backends import Backend
from sugar_core.priors.prompts import prompt_text


def chat(content: str) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def sensible(prompt) -> str:
    """What a well-behaved model says to each of the priors prompts (text or conversation)."""
    prompt = prompt_text(prompt)
    name = re.findall(r"\{([^}]*)\}", prompt)
    name = name[-1] if name else "x"
    if "Write six lines" in prompt:
        name = re.findall(r"Action: (.+?)\. Write six lines", prompt)[-1]
        return (
            f"head looks toward the {name}; hand moves for {name}; arm swings; "
            f"hip turns slightly; leg shifts weight; foot stays planted"
        )
    if "Based on the image" in prompt:
        return f"A person is shown doing {name} in the middle of the picture."
    if "different short sentences" in prompt:
        views = ("from the front", "from the side", "from behind")
        return "\n".join(f"{i + 1}. A person doing {name}, seen {v}." for i, v in enumerate(views))
    return f"A person performs the action {name}."


class Scripted(Backend):
    """A generating backend whose answer is ``fn(prompt, attempt)``; counts every call."""

    can_complete = True
    can_describe_images = True

    def __init__(self, fn=lambda p, a: sensible(p), id="scripted"):
        self.fn, self.id, self.calls, self.images = fn, id, [], []

    def complete(self, prompts, attempt=0):
        texts = [prompt_text(p) for p in prompts]
        self.calls.append((texts, attempt))
        return [self.fn(t, attempt) for t in texts]

    def describe_image(self, prompt, image, attempt=0):
        self.calls.append(([prompt], attempt))
        self.images.append(image)
        return self.fn(prompt, attempt)


def _prompt_of(body: dict) -> str:
    texts = []
    for m in body["messages"]:
        content = m["content"]
        if isinstance(content, list):
            content = " ".join(c.get("text", "") for c in content if c.get("type") == "text")
        texts.append(content)
    return "\n\n".join(texts)


def sensible_script(n: int, body: dict):
    return 200, {}, chat(sensible(_prompt_of(body)))


class FakeServer:
    def __init__(self, script=sensible_script):
        self.script = script
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer.lock:
                    n = len(outer.requests)
                    outer.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                status, headers, payload = outer.script(n, body)
                if status == "sleep":
                    time.sleep(headers)
                    status, headers, payload = 200, {}, chat("late")
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, str(v))
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def prompts(self) -> list[str]:
        return [_prompt_of(r["body"]) for r in self.requests]
