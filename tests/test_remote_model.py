"""The OpenAI-compatible model client against a real OpenAI-compatible server: llama-cpp-python's
own server, serving the packaged model on a local port. A server without a tokenizer endpoint
(some hosted ones) is stood in for at its HTTP boundary."""

from __future__ import annotations

import json

import pytest

from core.model.server import OpenAICompatibleModel
from core.ports import Prompt
from tests.servers import free_port, start_model_server

pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] extras not installed")


@pytest.fixture(scope="module")
def model_server(language_model):  # type: ignore[no-untyped-def]
    process, url = start_model_server(language_model.model_path, n_ctx=1024)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_counts_tokens_exactly_through_the_server(model_server, language_model):  # type: ignore[no-untyped-def]
    remote = OpenAICompatibleModel(base_url=model_server, n_ctx=1024)
    text = "How do I connect Tidings to Slack?"
    # The server counts without the leading BOS token the local count includes.
    assert abs(remote.count_tokens(text) - language_model.count_tokens(text)) <= 1


def test_streams_a_stopped_answer(model_server):  # type: ignore[no-untyped-def]
    remote = OpenAICompatibleModel(base_url=model_server, n_ctx=1024)
    seen: list[str] = []
    prompt = Prompt("Answer using the source.", "Source: The office opens at 9 am.\n\nQuestion: When does the office open?", "Answer:")
    generation = remote.generate(prompt, max_tokens=24, stop=["\n\n", "\nQuestion:"], on_text=seen.append)
    assert generation.text
    assert "".join(seen).strip().startswith(generation.text.split()[0])
    assert generation.prompt_tokens > 10
    assert generation.completion_tokens <= 24


def test_refuses_a_prompt_longer_than_the_context(model_server):  # type: ignore[no-untyped-def]
    from core.errors import ModelError

    remote = OpenAICompatibleModel(base_url=model_server, n_ctx=64)
    with pytest.raises(ModelError, match="exceeds the context"):
        remote.generate(Prompt("x", "word " * 200, ""), max_tokens=16)


def test_the_server_honours_a_grammar(model_server):  # type: ignore[no-untyped-def]
    from core.answers import quoting

    candidates = [
        quoting.Passage(1, 0, "The office is closed on public holidays."),
        quoting.Passage(1, 1, "New starters receive a laptop on their first day from the IT desk."),
    ]
    model = OpenAICompatibleModel(base_url=model_server, n_ctx=1024)
    generation = model.generate(
        quoting.choice_prompt("Where do new starters get a laptop?", candidates),
        max_tokens=4,
        grammar=quoting.choice_grammar(len(candidates)),
    )
    assert generation.text.strip() in {"1", "2", "none"}


def test_unreachable_server_is_a_clear_error():
    from core.errors import ModelError

    remote = OpenAICompatibleModel(base_url=f"http://127.0.0.1:{free_port()}/v1", n_ctx=512)
    with pytest.raises(ModelError, match="cannot be reached"):
        remote.generate(Prompt("x", "y", ""), max_tokens=8)


class _ServerWithoutTokenizer:
    """An OpenAI-compatible server with no tokenizer endpoint (as some hosted ones are): every
    tokenizer path gets ``status``, a completion streams "Nine." Requests are counted."""

    def __init__(self, status: int) -> None:
        import http.server
        import threading

        paths: list[str] = []
        self.paths = paths

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                paths.append(self.path)
                if not self.path.endswith("/completions"):
                    self.send_error(status)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                piece = {"choices": [{"text": "Nine.", "finish_reason": "stop"}]}
                self.wfile.write(f"data: {json.dumps(piece)}\n\ndata: [DONE]\n\n".encode())

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_server_without_a_tokenizer_is_asked_once_then_estimated():
    server = _ServerWithoutTokenizer(404)
    try:
        remote = OpenAICompatibleModel(base_url=server.url, n_ctx=512)
        first = remote.count_tokens("How do I connect Tidings to Slack?")
        asked = len(server.paths)
        assert asked == 3 and first > 0  # each tokenizer path once, all declined
        assert remote.count_tokens("How do I connect Tidings to Slack?") == first
        assert len(server.paths) == asked, "a server that has no tokenizer was asked again"
        assert remote.generate(Prompt("x", "y", ""), max_tokens=8).text == "Nine."
    finally:
        server.close()


def test_a_tokenizer_that_fails_for_now_is_asked_again():
    server = _ServerWithoutTokenizer(503)  # overloaded or restarting: it may count next time
    try:
        remote = OpenAICompatibleModel(base_url=server.url, n_ctx=512)
        remote.count_tokens("one")
        remote.count_tokens("two")
        assert len(server.paths) == 6
    finally:
        server.close()


def test_a_server_that_does_not_answer_is_not_waited_for_again_at_once():
    import socket
    import time

    from core.errors import ModelError

    def connections(listening: socket.socket) -> int:
        """How many connections were made to ``listening`` since last asked (it never answers them)."""
        made = 0
        while True:
            try:
                listening.accept()[0].close()
            except BlockingIOError:
                return made
            made += 1

    with socket.socket() as hung:  # accepts connections (the kernel does), never answers one
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        hung.setblocking(False)
        remote = OpenAICompatibleModel(base_url=f"http://127.0.0.1:{hung.getsockname()[1]}/v1", n_ctx=512, timeout_s=0.5)
        with pytest.raises(ModelError, match="cannot be reached"):
            remote.generate(Prompt("x", "y", ""), max_tokens=8)
        # One call waited for it (the first tokenizer path); the other paths and the completion did not.
        assert connections(hung) == 1
        with pytest.raises(ModelError, match="did not answer less than 30 s ago"):
            remote.generate(Prompt("x", "y", ""), max_tokens=8)
        assert remote.count_tokens("Tidings") > 0 and connections(hung) == 0
        # Half a minute on, it is asked again.
        later = time.monotonic() + 31
        remote._clock = lambda: later
        with pytest.raises(ModelError):
            remote.generate(Prompt("x", "y", ""), max_tokens=8)
        assert connections(hung) == 1
