"""A GGUF that carries a chat template is prompted through its template.

The test writes a copy of the packaged Gemma 3 270M with a Gemma-style chat template added
(gguf's own `gguf-new-metadata` tool), so the template path runs on a real model file."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.answers.prompts import build_answer_prompt
from core.model.local import LlamaModel
from core.ports import Prompt
from tests.conftest import MODEL_CACHE

pytestmark = pytest.mark.slow

GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}<start_of_turn>user\n{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}{% if loop.index0 == 0 %}<start_of_turn>user\n{% endif %}"
    "{{ message['content'] }}<end_of_turn>\n"
    "{% else %}<start_of_turn>model\n{{ message['content'] }}<end_of_turn>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


@pytest.fixture(scope="module")
def templated_model(language_model) -> LlamaModel:  # type: ignore[no-untyped-def]
    target = MODEL_CACHE / "gemma-3-270m-with-template.gguf"
    if not target.exists():
        tool = shutil.which("gguf-new-metadata", path=str(Path(sys.executable).parent))
        if tool is None:
            pytest.skip("gguf's gguf-new-metadata tool is not installed")
        partial = target.with_suffix(".partial")
        subprocess.run(
            [tool, "--chat-template", GEMMA_TEMPLATE, "--force", str(language_model.model_path), str(partial)],
            check=True, capture_output=True, timeout=300,
        )
        partial.rename(target)
    model = LlamaModel(model_path=target, n_ctx=512, n_threads=2)
    model.count_tokens("warm up")
    return model


def test_the_template_renders_the_prompt(templated_model: LlamaModel) -> None:
    assert templated_model.has_chat_template
    rendered = templated_model.render(Prompt("Be brief.", "Question: where?", ""))
    assert rendered.startswith("<start_of_turn>user\nBe brief.")
    assert rendered.endswith("<start_of_turn>model\n")
    assert "<end_of_turn>" in templated_model.stop_sequences()
    assert templated_model.count_tokens(rendered) == templated_model.count_tokens(rendered.replace("<start_of_turn>", "<start_of_turn>")), "stable"


def test_a_templated_model_answers_within_budget(templated_model: LlamaModel, handbook_services) -> None:  # type: ignore[no-untyped-def]
    from core.answers.answering import Answerer
    from core.types import Question

    hits = handbook_services.knowledge_base.search("Which VPN client do I install?", scopes={"public"}, k=4)
    packed = build_answer_prompt(templated_model, question="Which VPN client do I install?", hits=hits)
    assert templated_model.count_tokens(templated_model.render(packed.prompt)) + packed.max_answer_tokens <= 512
    answerer = Answerer.from_settings(
        handbook_services.settings,
        knowledge_base=handbook_services.knowledge_base,
        model=templated_model,
        worker=handbook_services.worker,
    )
    answer = asyncio.run(answerer.answer(Question(text="Which VPN client do I install?")))
    assert answer.grounded and "WireGuard" in answer.text
    assert "<end_of_turn>" not in answer.text and "<start_of_turn>" not in answer.text
