"""One worker thread per loaded model: requests wait in a bounded queue, non-streaming requests with the same
parameters are merged into one batched ``generate`` call, and nothing a request does can kill the process."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

from core.errors import EngineBusyError, ModelNotAvailableError
from core.logs import current_request_id, request_context
from core.text.base import Completion, Request, StreamChunk, TextEngine

log = logging.getLogger(__name__)
_END = object()
_STOP = object()


@dataclass
class _Job:
    request: Request
    future: Future = field(default_factory=Future)  # non-streaming result
    chunks: queue.Queue | None = None  # streaming output
    request_id: str | None = field(default_factory=current_request_id)  # the worker thread logs under it


class GenerationWorker:
    def __init__(self, engine: TextEngine, max_queue: int = 64, max_batch_size: int = 8):
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.jobs: queue.Queue = queue.Queue(maxsize=max_queue)
        self._closed = False
        self._closing = threading.Lock()  # no job may be queued behind the stop marker: it would wait forever
        self.thread = threading.Thread(target=self._run, name=f"gen-{engine.model_name}", daemon=True)
        self.thread.start()

    def _put(self, job: _Job) -> None:
        try:
            with self._closing:
                if self._closed:
                    raise ModelNotAvailableError(
                        f"{self.engine.model_name} was unloaded (replaced by a new version or evicted); send the"
                        " request again"
                    )
                self.jobs.put_nowait(job)
        except queue.Full:
            raise EngineBusyError(
                f"{self.engine.model_name} has {self.jobs.maxsize} requests waiting; retry shortly"
            ) from None

    def submit(self, request: Request) -> Future:
        job = _Job(request)
        self._put(job)
        return job.future

    def submit_stream(self, request: Request) -> Iterator[StreamChunk]:
        job = _Job(request, chunks=queue.Queue())
        self._put(job)
        try:
            while (item := job.chunks.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            request.cancel.set()  # the client went away: stop generating for it

    def _run(self) -> None:
        pending: _Job | object | None = None
        while True:
            job, pending = (pending or self.jobs.get()), None
            if job is _STOP:
                return
            if job.chunks is not None:
                with request_context(job.request_id):
                    self._run_stream(job)
                continue
            batch = [job]
            while len(batch) < self.max_batch_size:
                try:
                    nxt = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or nxt.chunks is not None or nxt.request.params != job.request.params:
                    pending = nxt  # runs next, after this batch
                    break
                batch.append(nxt)
            with request_context(",".join(dict.fromkeys(j.request_id for j in batch if j.request_id)) or None):
                self._run_batch(batch)

    def _run_stream(self, job: _Job) -> None:
        try:
            if not job.request.cancel.is_set():
                for chunk in self.engine.stream(job.request):
                    job.chunks.put(chunk)
        except Exception as exc:  # delivered to the waiting client, never fatal here
            log.exception("streaming generation failed")
            job.chunks.put(exc)
        job.chunks.put(_END)

    def _run_batch(self, batch: list[_Job]) -> None:
        try:
            results: list[Completion] = self.engine.generate_batch([j.request for j in batch])
            for j, result in zip(batch, results, strict=True):
                j.future.set_result(result)
        except Exception as exc:
            log.exception("batched generation failed")
            for j in batch:
                if not j.future.done():
                    j.future.set_exception(exc)

    def close(self, close_engine: bool = True) -> None:
        with self._closing:
            self._closed = True
            self.jobs.put(_STOP)
        self.thread.join(timeout=30)
        if close_engine:
            self.engine.close()
