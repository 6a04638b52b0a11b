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
from core.text.base import Request, StopScanner, StreamChunk, TextEngine, TokenLogprob, TokenTexts
from core.text.constraints import Constraint, compile_constraint
from core.text.templates import END_OF_TURN_TOKENS, render_chat_template


class _GrammarMask:
    """A llama.cpp logits processor that allows only the tokens xgrammar's matcher accepts next. It is handed
    the whole sequence each step and feeds the matcher the tokens generated since its last call."""

    def __init__(self, compiled, prompt_len: int, vocab_size: int):
        import xgrammar as xgr

        self.matcher = xgr.GrammarMatcher(compiled)
        self.bitmask = xgr.allocate_token_bitmask(1, vocab_size)
        self.seen = prompt_len

    def __call__(self, ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
        import torch
        import xgrammar as xgr

        for token in ids[self.seen :]:
            self.matcher.accept_token(int(token))
        self.seen = len(ids)
        self.matcher.fill_next_token_bitmask(self.bitmask)
        masked = torch.from_numpy(np.array(logits, dtype=np.float32))
        xgr.apply_token_bitmask_inplace(masked, self.bitmask)
        return masked.numpy()


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
        self._grammars = None  # xgrammar compiler over the GGUF vocabulary, built on the first constrained request

    def _grammar(self, constraint: Constraint, prompt_len: int) -> _GrammarMask:
        """xgrammar's mask for ``constraint`` over this GGUF's vocabulary (the compiler is built on first use)."""
        import xgrammar as xgr

        if self._grammars is None:
            info = xgr.TokenizerInfo(
                self._vocab_bytes(),
                xgr.VocabType.RAW,
                vocab_size=self.llm.n_vocab(),
                stop_token_ids=sorted(self.eos_ids),
            )
            self._grammars = xgr.GrammarCompiler(info)
        return _GrammarMask(compile_constraint(self._grammars, constraint), prompt_len, self.llm.n_vocab())

    def _vocab_bytes(self) -> list[bytes]:
        """Each token's bytes as text (control tokens are empty, so a grammar never produces them)."""
        import ctypes

        import llama_cpp

        buf = ctypes.create_string_buffer(256)
        vocab = self.llm._model.vocab
        pieces = []
        for token in range(self.llm.n_vocab()):
            n = llama_cpp.llama_token_to_piece(vocab, token, buf, len(buf), 0, False)
            pieces.append(buf.raw[: max(n, 0)])
        return pieces

    def _token_logprob(self, texts: TokenTexts, token: int, raw: bytes, row: np.ndarray, top: int) -> TokenLogprob:
        alternatives = []
        if top:
            best = np.argpartition(-row, top)[:top]
            best = best[np.argsort(-row[best])]
            alternatives = [(self.llm.detokenize([int(i)]), float(row[i])) for i in best]
        return texts.logprob(raw, float(row[token]), alternatives)

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
        if p.constraint is not None:
            processors.append(self._grammar(p.constraint, len(ids)))
        logprobs: list[TokenLogprob] = []
        texts = TokenTexts()
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
            )
            for token in tokens:
                if token in self.eos_ids:
                    finish = "stop"
                    break
                out.append(token)
                raw = self.llm.detokenize([token])
                if recorder is not None:
                    logprobs.append(self._token_logprob(texts, token, raw, recorder.row, p.top_logprobs))
                pending += raw
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
