ARG BASE=python:3.11-slim-bookworm
# Coqui TTS server (compose profile `coqui`): its own environment, because coqui-tts needs a torch/torchaudio pair
# the main image cannot share (core/speech/tts/coqui-requirements.txt; ~7 GB with PyPI's CUDA torch). The speech
# studio reaches it with apps.speech.tts_engine=coqui and apps.speech.coqui_url=http://coqui:5002.
FROM ${BASE}
ARG PIP_FIND_LINKS
ARG PIP_EXTRA_INDEX_URL
ARG PIP_CERT
ENV DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libsndfile1 espeak-ng \
    && if ! command -v python3 >/dev/null; then apt-get install -y --no-install-recommends python3 python3-venv; fi \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin coqui
COPY core/speech/tts/coqui-requirements.txt core/speech/tts/coqui_server.py /opt/coqui/
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/coqui/venv && /opt/coqui/venv/bin/pip install -r /opt/coqui/coqui-requirements.txt
USER 10001
EXPOSE 5002
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
    CMD ["/opt/coqui/venv/bin/python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:5002/health', timeout=4)"]
ENTRYPOINT ["/opt/coqui/venv/bin/python", "/opt/coqui/coqui_server.py"]
CMD ["--host", "0.0.0.0", "--port", "5002"]
