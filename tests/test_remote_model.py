"""The OpenAI-compatible model client against a real OpenAI-compatible server: llama-cpp-python's
own server, serving the packaged model on a local port."""

from __future__ import annotations

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
