"""The openai backend against a local fake server: success, errors, retries, timeouts."""

from __future__ import annotations

import base64
import io
import time

import pytest
from PIL import Image

from sugar_core.errors import BackendError, ConfigError
from sugar_core.priors.backends import BackendConfig
from sugar_core.priors.backends.openai import OpenAIBackend, _public_url, _retry_after
from sugar_core.priors.prompts import motion_prompt
from tests.helpers.backends import FakeServer, chat, sensible_script

SECRET = "sk-test-DO-NOT-LEAK-123456"


def backend(url: str, **kw) -> OpenAIBackend:
    opts = dict(name="openai", model="fake-model", base_url=url, backoff=0.01, timeout=5.0)
    opts.update(kw)
    return OpenAIBackend(BackendConfig(**opts))


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("SUGAR_TEST_KEY", SECRET)
    return "SUGAR_TEST_KEY"


def test_success_sends_model_messages_and_key(key):
    with FakeServer() as srv:
        b = backend(srv.url, api_key_env=key, concurrency=3)
        out = b.complete([motion_prompt("throw"), "hello"])
    assert out[0].startswith("head looks toward the throw")
    assert out[1] == "A person performs the action x."
    assert len(srv.requests) == 2
    # requests run concurrently: find each by its content
    r = next(q for q in srv.requests if len(q["body"]["messages"]) == 4)
    hello = next(q for q in srv.requests if len(q["body"]["messages"]) == 1)
    assert r["path"] == "/v1/chat/completions"
    assert r["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert r["body"]["model"] == "fake-model" and r["body"]["temperature"] == 0.0
    assert r["body"]["messages"] == motion_prompt("throw")
    assert hello["body"]["messages"] == [{"role": "user", "content": "hello"}]
    assert SECRET not in b.id


def test_retry_uses_retry_temperature(key):
    with FakeServer() as srv:
        backend(srv.url, api_key_env=key).complete(["x"], attempt=1)
    assert srv.requests[0]["body"]["temperature"] == 0.7


def test_no_key_means_no_authorization_header(monkeypatch):
    monkeypatch.delenv("SUGAR_ABSENT_KEY", raising=False)
    with FakeServer() as srv:
        backend(srv.url, api_key_env="SUGAR_ABSENT_KEY").complete(["x"])
    assert "Authorization" not in srv.requests[0]["headers"]


def test_429_then_success_respects_retry_after(key):
    def script(n, body):
        if n == 0:
            return 429, {"Retry-After": "0.3"}, {"error": {"message": "slow down"}}
        return sensible_script(n, body)

    with FakeServer(script) as srv:
        t0 = time.perf_counter()
        out = backend(srv.url, api_key_env=key, backoff=0.001).complete(["hi"])
        elapsed = time.perf_counter() - t0
    assert out == ["A person performs the action x."]
    assert len(srv.requests) == 2
    assert elapsed >= 0.3, elapsed


def test_500s_give_up_after_retries(key):
    with FakeServer(lambda n, b: (500, {}, {"error": "boom"})) as srv:
        with pytest.raises(BackendError, match=r"HTTP 500.*after 3 tries") as err:
            backend(srv.url, api_key_env=key, http_retries=2).complete(["hi"])
    assert len(srv.requests) == 3
    assert SECRET not in str(err.value)


def test_500_then_success(key):
    def script(n, body):
        return (503, {}, {"error": "busy"}) if n < 2 else (200, {}, chat("fine"))

    with FakeServer(script) as srv:
        assert backend(srv.url, api_key_env=key, http_retries=3).complete(["q"]) == ["fine"]
    assert len(srv.requests) == 3


def test_timeout_is_retried_then_reported(key):
    with FakeServer(lambda n, b: ("sleep", 1.0, None)) as srv:
        b = backend(srv.url, api_key_env=key, timeout=0.2, http_retries=1)
        with pytest.raises(BackendError, match="no answer within 0.2 s"):
            b.complete(["q"])
    assert len(srv.requests) == 2


def test_401_stops_at_once_and_hides_the_key(key):
    def script(n, body):
        return 401, {}, {"error": {"message": f"Incorrect API key provided: {SECRET}"}}

    with FakeServer(script) as srv:
        with pytest.raises(BackendError, match=r"HTTP 401.*SUGAR_TEST_KEY") as err:
            backend(srv.url, api_key_env=key).complete(["q"])
    assert len(srv.requests) == 1
    assert SECRET not in str(err.value) and "***" in str(err.value)


def test_unreachable_server_is_reported():
    with FakeServer() as srv:
        url = srv.url
    with pytest.raises(BackendError, match="cannot connect.*after 2 tries"):
        backend(url, http_retries=1).complete(["q"])


@pytest.mark.parametrize(
    "payload", [b"<html>proxy error</html>", {"choices": []}, {"error": "no choices"}]
)
def test_malformed_response_body(key, payload):
    with FakeServer(lambda n, b: (200, {}, payload)) as srv:
        with pytest.raises(BackendError, match="not JSON|choices"):
            backend(srv.url, api_key_env=key).complete(["q"])


def test_describe_image_sends_a_jpeg_data_url(key):
    img = Image.new("RGB", (1000, 500), (200, 10, 10))
    with FakeServer() as srv:
        out = backend(srv.url, api_key_env=key).describe_image("Based on the image {throw}", img)
    assert out.startswith("A person is shown doing throw")
    content = srv.requests[0]["body"]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Based on the image {throw}"}
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.size == (768, 384)


def test_config_errors_and_helpers():
    with pytest.raises(ConfigError, match="--model"):
        OpenAIBackend(BackendConfig(name="openai"))
    with pytest.raises(ConfigError, match="http"):
        OpenAIBackend(BackendConfig(name="openai", model="m", base_url="localhost:8000"))
    assert _public_url("https://user:pw@host:8080/v1/?key=abc#x") == "https://host:8080/v1"
    assert _retry_after("2") == 2.0 and _retry_after(None) is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
