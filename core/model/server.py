"""A language model behind an OpenAI-compatible server (llama.cpp server, vLLM, ...).

When one machine is not enough, the model moves to a server and several Tidings replicas
share it; set ``llm.server_url``. Prompts are still rendered and budgeted here: the server's
``/tokenize`` endpoint counts tokens exactly (llama.cpp and vLLM both offer one); a server
without it gets a conservative estimate with a safety margin.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from core.errors import ModelError
from core.model.local import check_fits, collect_stream, drop_repeats
from core.ports import Generation, Prompt

log = logging.getLogger(__name__)

# A server none of whose tokenizer paths counts tokens: counts are estimated from then on.
_ESTIMATED = "estimated"
# A server that did not answer is not asked again for this long: a host that is off costs each
# call its whole timeout, and one answer counts tokens many times before it generates.
RETRY_AFTER_S = 30.0
# Counting tokens is quick on any server that is up.
TOKENIZE_TIMEOUT_S = 10.0


def _estimate(text: str) -> int:
    """About 3 UTF-8 bytes a token, rounded up with a margin: safe for the budget, not exact."""
    return int(len(text.encode("utf-8")) / 3) + 8


_TOKENIZERS: dict[str, tuple[str, Callable[[str, str], dict[str, Any]]]] = {
    # llama.cpp's own server
    "llama.cpp": ("/tokenize", lambda text, model: {"content": text, "add_special": True}),
    # vLLM
    "vllm": ("/tokenize", lambda text, model: {"model": model, "prompt": text}),
    # llama-cpp-python's server
    "llama-cpp-python": ("/extras/tokenize", lambda text, model: {"input": text, **({"model": model} if model else {})}),
}


class OpenAICompatibleModel:
    """A :class:`core.ports.LanguageModel` that streams from ``{base_url}/completions``."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str = "",
        n_ctx: int = 2048,
        temperature: float = 0.0,
        api_key: str = "",
        timeout_s: float = 120.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._n_ctx = n_ctx
        self.temperature = temperature
        self._api_key = api_key
        self.timeout_s = timeout_s
        self._tokenize_style: str | None = None
        self._clock: Callable[[], float] = time.monotonic
        self._silent_until = 0.0

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def name(self) -> str:
        return self.model or self.base_url

    @property
    def writes_well(self) -> bool:
        """A model worth a server is assumed to be a chat model that writes well; set
        ``[answers] style = "quote"`` for a small one."""
        return True

    @property
    def server_root(self) -> str:
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    def _post(self, url: str, payload: dict[str, Any], *, timeout: float | None = None) -> Any:
        request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json", **self._auth()},
            method="POST",
        )
        if self._clock() < self._silent_until:
            raise urllib.error.URLError(f"it did not answer less than {RETRY_AFTER_S:.0f} s ago")
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout_s)
        except urllib.error.HTTPError:
            raise  # it answered
        except (urllib.error.URLError, OSError):
            self._silent_until = self._clock() + RETRY_AFTER_S
            raise

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def render(self, prompt: Prompt) -> str:
        return f"{prompt.instructions}\n\n{prompt.body}\n{prompt.answer_prefix}"

    def count_tokens(self, text: str) -> int:
        if self._tokenize_style == _ESTIMATED:
            return _estimate(text)
        styles = [self._tokenize_style] if self._tokenize_style else list(_TOKENIZERS)
        declined = 0
        for style in styles:
            path, make_payload = _TOKENIZERS[style]
            try:
                url, payload = f"{self.server_root}{path}", make_payload(text, self.model)
                with self._post(url, payload, timeout=min(TOKENIZE_TIMEOUT_S, self.timeout_s)) as response:
                    data = json.loads(response.read())
            except urllib.error.HTTPError as error:
                declined += 400 <= error.code < 500  # no such endpoint, or not this payload
                continue
            except (urllib.error.URLError, OSError):
                continue  # not reached: ask again next time, it may be back
            except ValueError:
                declined += 1
                continue
            if isinstance(data, dict) and ("tokens" in data or "count" in data):
                self._tokenize_style = style
                return int(data.get("count") or len(data["tokens"]))
            declined += 1
        if self._tokenize_style is None and declined == len(styles):
            # The server answered every tokenizer path, and none counts tokens: asking again for
            # every count would cost each prompt dozens of round trips for nothing.
            self._tokenize_style = _ESTIMATED
            log.info("the model server at %s counts no tokens; Tidings estimates them", self.base_url)
        return _estimate(text)

    def _stream(self, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        try:
            response = self._post(f"{self.base_url}/completions", payload)
        except urllib.error.HTTPError as error:
            raise ModelError(f"The model server at {self.base_url} answered {error.code}: {error.reason}.") from error
        except (urllib.error.URLError, OSError) as error:
            raise ModelError(f"The model server at {self.base_url} cannot be reached: {error}.") from error
        with response:
            for raw in response:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                yield json.loads(data)

    def generate(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        on_text: Callable[[str], None] | None = None,
        timeout_s: float | None = None,
        grammar: str | None = None,
    ) -> Generation:
        rendered = self.render(prompt)
        prompt_tokens = self.count_tokens(rendered)
        check_fits(prompt_tokens, max_tokens, self._n_ctx)
        payload: dict[str, Any] = {
            "prompt": rendered,
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "stop": list(stop)[:4],  # the OpenAI API takes at most four stop sequences
            "stream": True,
        }
        if self.model:
            payload["model"] = self.model
        if grammar:
            # llama.cpp's server and llama-cpp-python's both read a GBNF ``grammar`` field.
            payload["grammar"] = grammar
        started = time.perf_counter()
        text, pieces, finish = collect_stream(self._stream(payload), on_text=on_text, started=started, timeout_s=timeout_s)
        # Stops beyond the first four are applied here.
        for marker in stop:
            if marker in text:
                text = text[: text.index(marker)]
                finish = "stop"
        return Generation(
            text=drop_repeats(text),
            prompt_tokens=prompt_tokens,
            completion_tokens=pieces,
            seconds=time.perf_counter() - started,
            finish_reason=finish,
        )
