"""Any causal LM through Hugging Face transformers.

Device and dtype are chosen automatically (CUDA bf16, else CPU fp32). On CPU the Linear layers are quantised
to int8 per output channel by default: ~2.8x the fp32 speed with coherent output (per-tensor int8 is garbage).
"""

from __future__ import annotations

import queue
import re
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessor,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from core.errors import InvalidRequestError, ModelLoadError
from core.models.weights import check_weights, safetensors_only
from core.text.base import Completion, Request, StopScanner, StreamChunk, TextEngine, TokenLogprob, TokenTexts
from core.text.constraints import Constraint, compile_constraint
from core.text.templates import END_OF_TURN_TOKENS, render_prompt

_DONE = object()


def _byte_alphabet() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet (SmolLM2, Qwen2.5, Llama 3): the printable character that stands for each
    byte in a token's piece -> the byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = (b for b in range(256) if b not in printable)
    return {chr(b): b for b in printable} | {chr(256 + n): b for n, b in enumerate(others)}


_BYTE_OF = _byte_alphabet()
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def pick_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, dtype: str = "auto") -> torch.dtype:
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def quantize_int8_per_channel(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of every Linear layer with one scale per output channel.

    Measured on the 2-core CI VM: SmolLM2 decodes at 1.4-1.8x fp32. Each quantised Linear call costs 60-140 us
    whatever its size (211 calls per token), so call overhead, not arithmetic, is the limit on small models."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch.ao's eager quantisation warns that it moves to torchao
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def int8_keeps_answers() -> bool:
    """Whether ``quantize=auto`` may use int8 on this CPU. On AVX2 (AMD EPYC) per-channel int8 kept SmolLM2's
    answers (14/20 factual questions, "Paris"); on an AVX-512 Xeon the same kernels flipped greedy answers ("The
    capital of France is located in ...", no end of turn), and oneDNN's kernels gave garbage, so AVX-512 CPUs
    default to fp32. ``text.quantize=int8`` still forces it."""
    return not torch.backends.cpu.get_cpu_capability().startswith("AVX512")


class _TokenQueue(BaseStreamer):
    """Receives token ids from ``generate`` on its thread; skips the prompt it is first given."""

    def __init__(self) -> None:
        self.q: queue.Queue = queue.Queue()
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.q.put(value.reshape(-1).tolist())

    def end(self) -> None:
        self.q.put(_DONE)


class _Cancelled(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class _Penalties(LogitsProcessor):
    """OpenAI's presence and frequency penalties over the generated tokens (transformers has neither)."""

    def __init__(self, prompt_len: int, presence: float, frequency: float):
        self.prompt_len, self.presence, self.frequency = prompt_len, presence, frequency

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.prompt_len :]
        if generated.shape[1] == 0:
            return scores
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return scores - self.frequency * counts - self.presence * (counts > 0).to(scores.dtype)


class _LogprobRecorder(LogitsProcessor):
    """First in the processor list: keeps the model's own log-probabilities at each step (before penalties,
    grammar masks and temperature) for the consumer to pair with the token that was chosen."""

    def __init__(self) -> None:
        self.rows: queue.Queue = queue.Queue()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.rows.put(torch.log_softmax(scores[0].float(), dim=-1))
        return scores


class TransformersEngine(TextEngine):
    engine_name = "transformers"

    def __init__(
        self,
        model_name: str,
        source: str | Path,
        *,
        device: str = "auto",
        dtype: str = "auto",
        quantize: str = "auto",
        threads: int | None = None,
        context_length: int = 4096,
        trust_remote_code: bool = False,
        allow_pickle_weights: bool = False,
        local_files_only: bool = False,
        adapter: str | Path | None = None,
    ):
        self.model_name = model_name
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        if threads:
            torch.set_num_threads(threads)
        kwargs = {"trust_remote_code": trust_remote_code, "local_files_only": local_files_only}
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(source), **kwargs)
            decoder = getattr(getattr(self.tokenizer, "backend_tokenizer", None), "decoder", None)
            self._byte_level = type(decoder).__name__ == "ByteLevel"  # pieces spell bytes in GPT-2's alphabet
            model = AutoModelForCausalLM.from_pretrained(
                str(source),
                dtype=self.dtype,
                device_map="auto" if self.device == "cuda" else None,
                **kwargs,
                **safetensors_only(source, allow_pickle_weights),
            )
            if adapter is not None:  # a LoRA run: fold the adapter into the weights (no per-token LoRA cost)
                from peft import PeftModel

                check_weights(adapter, allow_pickle_weights)
                model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        except (OSError, ValueError, SafetensorError) as exc:  # a missing, truncated or corrupt weights file
            raise ModelLoadError(f"could not load {model_name!r} with transformers: {exc}") from None
        if self.device != "cuda":
            model.to(self.device)
        self.quantized = quantize == "int8" or (quantize == "auto" and self.device == "cpu" and int8_keeps_answers())
        if self.quantized:
            model = quantize_int8_per_channel(model)
        self.model = model.eval()
        self.context_length = min(context_length, getattr(model.config, "max_position_embeddings", context_length))
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.eos_ids = self._end_of_turn_ids()
        self._lock = threading.Lock()  # one generate at a time per model; callers queue here
        self._grammars = None  # xgrammar compiler, built on the first constrained request

    def _grammar_processor(self, constraint: Constraint) -> LogitsProcessor:
        """xgrammar's logits processor for ``constraint`` (compiled grammars are cached by the compiler)."""
        import xgrammar as xgr

        if self._grammars is None:
            info = xgr.TokenizerInfo.from_huggingface(
                self.tokenizer, vocab_size=self.model.config.vocab_size, stop_token_ids=self.eos_ids
            )
            self._grammars = xgr.GrammarCompiler(info)
        return xgr.contrib.hf.LogitsProcessor(compile_constraint(self._grammars, constraint))

    def _end_of_turn_ids(self) -> list[int]:
        ids: set[int] = set()
        configured = self.model.generation_config.eos_token_id
        if configured is not None:
            ids.update(configured if isinstance(configured, list) else [configured])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
        return sorted(ids)

    # -- prompt handling -------------------------------------------------------------------------------
    def _prompt_text(self, request: Request) -> str:
        if request.prompt is not None:
            return request.prompt
        return render_prompt(self.tokenizer, request.messages, request.tools)

    def _encode(self, request: Request) -> list[int]:
        ids = self.tokenizer(self._prompt_text(request), add_special_tokens=request.prompt is not None)["input_ids"]
        if len(ids) + 1 > self.context_length:
            raise InvalidRequestError(
                f"prompt is {len(ids)} tokens; {self.model_name} takes at most {self.context_length}"
            )
        return ids

    def _generate_kwargs(self, request: Request, prompt_len: int, recorder: _LogprobRecorder | None = None) -> dict:
        p = request.params
        max_new = min(p.max_new_tokens, self.context_length - prompt_len)
        # Ours run after transformers' own processors and before its temperature/top-p warpers.
        processors = LogitsProcessorList([recorder] if recorder else [])
        if p.repetition_penalty != 1.0:
            processors.append(RepetitionPenaltyLogitsProcessor(p.repetition_penalty))
        if p.presence_penalty or p.frequency_penalty:
            processors.append(_Penalties(prompt_len, p.presence_penalty, p.frequency_penalty))
        if p.constraint is not None:
            processors.append(self._grammar_processor(p.constraint))
        kwargs = {
            "max_new_tokens": max_new,
            "eos_token_id": self.eos_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
            "do_sample": p.temperature > 0,
            "stopping_criteria": StoppingCriteriaList([_Cancelled(request.cancel)]),
            "logits_processor": processors,
        }
        if p.temperature > 0:
            kwargs.update(temperature=p.temperature, top_p=p.top_p, top_k=0)
        else:  # keep the model's sampling defaults from warning about being unused
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if p.ignore_eos:
            kwargs["min_new_tokens"] = max_new
        return kwargs

    # -- generation ------------------------------------------------------------------------------------
    def _token_logprob(self, texts: TokenTexts, token: int, row: torch.Tensor, top: int) -> TokenLogprob:
        alternatives = []
        if top:
            values, ids = torch.topk(row, top)
            alternatives = [(self._bytes(i), v) for i, v in zip(ids.tolist(), values.tolist(), strict=True)]
        return texts.logprob(self._bytes(token), row[token].item(), alternatives)

    def _bytes(self, token: int) -> bytes:
        """The token's own bytes: decoding one token alone loses a character split across tokens."""
        piece = self.tokenizer.convert_ids_to_tokens(token)
        if self._byte_level and all(c in _BYTE_OF for c in piece):
            return bytes(_BYTE_OF[c] for c in piece)
        if byte := _BYTE_PIECE.fullmatch(piece):  # SentencePiece's byte fallback
            return bytes([int(byte[1], 16)])
        return self.tokenizer.decode([token]).encode()

    def _stream(self, request: Request) -> Iterator[StreamChunk]:
        ids = self._encode(request)
        recorder = _LogprobRecorder() if request.params.logprobs else None
        kwargs = self._generate_kwargs(request, len(ids), recorder)
        streamer = _TokenQueue()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock, torch.inference_mode():
                    if request.params.seed is not None:
                        torch.manual_seed(request.params.seed)
                    self.model.generate(
                        input_ids=torch.tensor([ids], device=self.model.device),
                        attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=self.model.device),
                        streamer=streamer,
                        **kwargs,
                    )
            except BaseException as exc:  # re-raised on the consumer's thread
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        scanner = StopScanner(request.params.stop)
        out_ids: list[int] = []
        logprobs: list[TokenLogprob] = []
        texts = TokenTexts()
        emitted = ""
        finish = "length"
        try:
            while True:
                item = streamer.q.get()
                if item is _DONE:
                    break
                new = [t for t in item if t not in self.eos_ids]
                if len(new) < len(item) and not request.params.ignore_eos:
                    finish = "stop"
                if recorder is not None:
                    rows = [recorder.rows.get() for _ in item]  # one row per step, end-of-turn included
                    logprobs += [
                        self._token_logprob(texts, t, row, request.params.top_logprobs)
                        for t, row in zip(item, rows, strict=True)
                        if t not in self.eos_ids
                    ]
                out_ids.extend(new)
                text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
                if text.endswith("\ufffd"):  # an incomplete multi-byte character: wait for the next token
                    continue
                piece = scanner.feed(text[len(emitted) :])
                emitted = text
                if piece or logprobs:
                    yield StreamChunk(piece, logprobs=logprobs)
                    logprobs = []
                if scanner.stopped:
                    finish = "stop"
                    request.cancel.set()
                    break
        finally:
            request.cancel.set()  # stops generation when the consumer leaves early
            thread.join()
        if errors:
            raise errors[0]
        yield StreamChunk(scanner.flush(), finish, len(ids), len(out_ids), logprobs)

    def generate_batch(self, requests: Sequence[Request]) -> list[Completion]:
        """One left-padded ``generate`` call for requests sharing the same parameters.

        Dynamic int8 quantises activations with one scale per tensor, i.e. across the whole batch, so a
        request's answer would depend on its batch mates; quantised models answer one request at a time."""
        if len(requests) == 1 or len({r.params for r in requests}) > 1 or self.quantized:
            return super().generate_batch(requests)
        encoded = [self._encode(r) for r in requests]
        width = max(len(e) for e in encoded)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(e)) + e for e in encoded], device=self.model.device)
        mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded], device=self.model.device)
        kwargs = self._generate_kwargs(requests[0], width)
        kwargs["stopping_criteria"] = None
        with self._lock, torch.inference_mode():
            if requests[0].params.seed is not None:
                torch.manual_seed(requests[0].params.seed)
            out = self.model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
        results = []
        for row, prompt in zip(out[:, width:].tolist(), encoded, strict=True):
            cut = next((i for i, t in enumerate(row) if t in self.eos_ids), None)
            ended = cut is not None and not requests[0].params.ignore_eos
            tokens = row[:cut] if cut is not None else row
            scanner = StopScanner(requests[0].params.stop)
            text = scanner.feed(self.tokenizer.decode(tokens, skip_special_tokens=True))
            text += scanner.flush()
            finish = "stop" if ended or scanner.stopped else "length"
            results.append(Completion(text, finish, len(prompt), len(tokens)))
        return results
