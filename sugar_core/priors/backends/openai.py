"""The ``openai`` backend: any OpenAI-compatible chat-completions server, over urllib.

Works with OpenAI, vLLM, Ollama, llama.cpp's server and the like: ``POST {base_url}/chat/
completions``. The API key is read from an environment variable when a request is sent and goes
only into the Authorization header: it is not part of ``id`` (the cache key), of any message,
or of any file. A server that needs no key (a local one) gets no header.

Failures: 429 and 5xx answers, timeouts and refused connections are retried with exponential
backoff (``Retry-After`` wins when the server sends it); other HTTP errors stop at once with
the server's message. Requests run ``concurrency`` at a time on a thread pool.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import io
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from sugar_core.errors import BackendError, ConfigError
from sugar_core.priors.backends.base import Backend, BackendConfig
from sugar_core.priors.prompts import Prompt
from sugar_core.redact import public_url, scrub, url_secrets

MAX_WAIT = 120.0  # never sleep longer than this for one Retry-After
IMAGE_SIDE = 768  # longest image side sent to the server (pixels)


def _public_url(url: str) -> str:
    """``url`` without user info, query or fragment (they may hold secrets)."""
    return public_url(url)


def _endpoint(base_url: str) -> str:
    """``{base_url}/chat/completions``, a query of the base URL (``?api-version=``) kept last."""
    p = urllib.parse.urlsplit(base_url)
    path = p.path.rstrip("/") + "/chat/completions"
    return urllib.parse.urlunsplit((p.scheme, p.netloc, path, p.query, ""))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def image_data_url(image, side: int = IMAGE_SIDE) -> str:
    """A PIL image as a base64 JPEG data URL, its longest side at most ``side`` pixels."""
    img = image.convert("RGB")
    if max(img.size) > side:
        scale = side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class OpenAIBackend(Backend):
    can_complete = True
    can_describe_images = True

    def __init__(self, cfg: BackendConfig):
        if not cfg.model:
            raise ConfigError("--backend openai needs --model (the server's model name)")
        if not cfg.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"--base-url should start with http:// or https://: {scrub(cfg.base_url)}"
            )
        if "@" in urllib.parse.urlsplit(cfg.base_url).netloc:
            raise ConfigError(
                f"--base-url {public_url(cfg.base_url)}: user:password@ in the URL is not sent; "
                f"put the key in ${cfg.api_key_env} instead"
            )
        self.cfg = cfg
        self.url = _endpoint(cfg.base_url)
        self.concurrency = max(1, cfg.concurrency)
        self.id = (
            f"openai:{cfg.model}@{_public_url(cfg.base_url)}"
            f"|temperature={cfg.temperature}|retry_temperature={cfg.retry_temperature}"
            f"|max_tokens={cfg.max_new_tokens}"
        )

    # -- HTTP --------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.cfg.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _scrub(self, text: str) -> str:
        """``text`` without the key, the URL's query values or anything shaped like a key."""
        key = os.environ.get(self.cfg.api_key_env, "")
        return scrub(text, [key, *url_secrets(self.cfg.base_url)])

    def _error(self, message: str) -> BackendError:
        return BackendError(self._scrub(message))

    def _post(self, payload: dict) -> dict:
        body = json.dumps(payload).encode("utf-8")
        where = _public_url(self.url)
        last = ""
        for attempt in range(self.cfg.http_retries + 1):
            wait = self.cfg.backoff * (2**attempt)
            req = urllib.request.Request(self.url, data=body, headers=self._headers())
            try:
                with urllib.request.urlopen(req, timeout=self.cfg.timeout) as resp:
                    raw = resp.read()
                break
            except urllib.error.HTTPError as exc:
                detail = self._scrub(exc.read().decode("utf-8", "replace"))[:300]
                last = f"HTTP {exc.code}: {' '.join(detail.split())}"
                if exc.code != 429 and exc.code < 500:
                    hint = f" (is ${self.cfg.api_key_env} set?)" if exc.code in (401, 403) else ""
                    raise self._error(f"{where}: {last}{hint}") from None
                after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                if after is not None:
                    wait = min(after, MAX_WAIT)
            except TimeoutError:
                last = f"no answer within {self.cfg.timeout:g} s"
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, TimeoutError):
                    last = f"no answer within {self.cfg.timeout:g} s"
                else:
                    last = f"cannot connect ({self._scrub(str(exc.reason))})"
            except (OSError, http.client.HTTPException) as exc:
                last = f"connection failed ({self._scrub(str(exc))})"
            if attempt < self.cfg.http_retries:
                time.sleep(wait)
        else:
            raise self._error(
                f"{where}: {last}, still failing after {self.cfg.http_retries + 1} tries"
            )
        try:
            return json.loads(raw)
        except ValueError:
            snippet = " ".join(self._scrub(raw[:4000].decode("utf-8", "replace")).split())[:120]
            raise self._error(f"{where}: answer is not JSON: {snippet!r}") from None

    def _chat(self, prompt: Prompt, attempt: int) -> str:
        temperature = self.cfg.temperature if attempt == 0 else self.cfg.retry_temperature
        messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        data = self._post(
            {
                "model": self.cfg.model,
                "messages": messages,
                "temperature": temperature,
                "max_tokens": self.cfg.max_new_tokens,
            }
        )
        try:
            text = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise self._error(
                f"{_public_url(self.url)}: response has no choices[0].message.content: "
                f"{self._scrub(str(data)[:4000])[:160]!r}"
            ) from None
        return self._scrub(text) if isinstance(text, str) else ""  # an echoed key stays out

    # -- Backend interface -------------------------------------------------------------------

    def complete(self, prompts: list[Prompt], attempt: int = 0) -> list[str]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda p: self._chat(p, attempt), prompts))

    def describe_image(self, prompt: str, image, attempt: int = 0) -> str:
        content = [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": image_data_url(image)}},
        ]
        return self._chat([{"role": "user", "content": content}], attempt)
