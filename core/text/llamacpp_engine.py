"""GGUF models through llama.cpp (``llama-cpp-python``): the CPU fast path (~7x HF fp32 for SmolLM2).

We drive llama.cpp's token loop ourselves (``Llama.generate``) so that end-of-turn, stop sequences,
cancellation and token counts behave exactly as in the other engines.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from core.errors import InvalidRequestError, ModelLoadError
from core.text.base import Request, StopScanner, StreamChunk, TextEngine, TokenLogprob
from core.text.constraints import Constraint
from core.text.templates import END_OF_TURN_TOKENS, render_chat_template


class _LogprobRecorder:
    """A llama.cpp logits processor that keeps the raw log-probabilities of the step (it runs before penalties
    and the grammar) for the token loop to pair with the chosen token."""

    def __init__(self) -> None:
        self.row: np.ndarray | None = None

    def __call__(self, _ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        shifted = logits - logits.max()
        self.row = shifted - np.log(np.exp(shifted).sum())
        return logits


class LlamaCppEngine(TextEngine):
    engine_name = "llamacpp"

    def __init__(
        self,
        model_name: str,
        gguf_path: str | Path,
        *,
        context_length: int = 4096,
        threads: int | None = None,
        gpu_layers: int = 0,  # -1 offloads every layer when llama.cpp was built with CUDA
    ):
        from llama_cpp import Llama

        self.model_name = model_name
        try:
            self.llm = Llama(
                model_path=str(gguf_path),
                n_ctx=context_length,
                n_threads=threads or os.cpu_count(),
                n_gpu_layers=gpu_layers,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"llama.cpp could not load {gguf_path}: {exc}") from None
        self.context_length = self.llm.n_ctx()
        meta = self.llm.metadata
        self.chat_template = meta.get("tokenizer.chat_template")
        self.bos = self._piece(self.llm.token_bos())
        self.eos = self._piece(self.llm.token_eos())
        self.eos_ids = {self.llm.token_eos()}
        for token in END_OF_TURN_TOKENS:
            ids = self.llm.tokenize(token.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self.eos_ids.add(ids[0])
        self._lock = threading.Lock()  # a Llama context serves one sequence at a time

    def _grammar(self, constraint: Constraint):
        """llama.cpp's grammar for ``constraint``, parsed once here first: the sampler crashes the process on a
        grammar llama.cpp cannot parse, so such a constraint becomes a 400 instead."""
        import llama_cpp

        gbnf = constraint.gbnf()
        sampler = llama_cpp.llama_sampler_init_grammar(self.llm._model.vocab, gbnf.encode(), b"root")
        if not sampler:
            raise InvalidRequestError(
                f"llama.cpp cannot parse the grammar for this {constraint.kind}", constraint.param
            )
        llama_cpp.llama_sampler_free(sampler)
        return llama_cpp.LlamaGrammar.from_string(gbnf, verbose=False)

    def _token_logprob(self, token: int, row: np.ndarray, top: int) -> TokenLogprob:
        alternatives = ()
        if top:
            best = np.argpartition(-row, top)[:top]
            best = best[np.argsort(-row[best])]
            alternatives = tuple((self._text(int(i)), float(row[i])) for i in best)
        return TokenLogprob(self._text(token), float(row[token]), alternatives)

    def _text(self, token: int) -> str:
        return self.llm.detokenize([token]).decode("utf-8", errors="replace")

    def _piece(self, token: int) -> str:
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="ignore") if token >= 0 else ""

    def _encode(self, request: Request) -> list[int]:
        if request.messages is not None:
            text = render_chat_template(self.chat_template, request.messages, self.bos, self.eos, request.tools)
            ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
        else:
            ids = self.llm.tokenize(request.prompt.encode(), add_bos=True, special=False)
        if len(ids) + 1 > self.context_length:
            raise InvalidRequestError(
                f"prompt is {len(ids)} tokens; {self.model_name} takes at most {self.context_length}"
            )
        return ids

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        p = request.params
        ids = self._encode(request)
        max_new = min(p.max_new_tokens, self.context_length - len(ids))
        scanner = StopScanner(p.stop)
        processors = []
        recorder = _LogprobRecorder() if p.logprobs else None
        if recorder:
            processors.append(recorder)
        if p.ignore_eos:
            banned = np.array(sorted(self.eos_ids))

            def logit_bias(_ids, logits):
                logits[banned] = -np.inf
                return logits

            processors.append(logit_bias)
        grammar = self._grammar(p.constraint) if p.constraint is not None else None
        logprobs: list[TokenLogprob] = []
        out: list[int] = []
        pending = b""
        finish = "length"
        with self._lock:
            if p.seed is not None:
                self.llm.set_seed(p.seed)
            tokens = self.llm.generate(
                ids,
                temp=p.temperature,
                top_p=p.top_p,
                top_k=0 if p.temperature > 0 else 1,
                repeat_penalty=p.repetition_penalty,
                presence_penalty=p.presence_penalty,
                frequency_penalty=p.frequency_penalty,
                reset=True,
                logits_processor=processors or None,
                grammar=grammar,
            )
            for token in tokens:
                if token in self.eos_ids:
                    finish = "stop"
                    break
                out.append(token)
                if recorder is not None:
                    logprobs.append(self._token_logprob(token, recorder.row, p.top_logprobs))
                pending += self.llm.detokenize([token])
                try:
                    text = pending.decode("utf-8")
                except UnicodeDecodeError:  # a multi-byte character split across tokens
                    if len(out) < max_new:
                        continue
                    text = pending.decode("utf-8", errors="ignore")
                pending = b""
                piece = scanner.feed(text)
                if piece or logprobs:
                    yield StreamChunk(piece, logprobs=logprobs)
                    logprobs = []
                if scanner.stopped:
                    finish = "stop"
                    break
                if request.cancel.is_set() or len(out) >= max_new:
                    break
        yield StreamChunk(scanner.flush(), finish, len(ids), len(out), logprobs)

    def close(self) -> None:
        # Explicit close: Llama.__del__ at interpreter exit prints an error.
        if getattr(self, "llm", None) is not None:
            self.llm.close()
            self.llm = None
