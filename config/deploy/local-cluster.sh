#!/usr/bin/env bash
# A Tidings cluster on one machine, from the same pieces the acceptance tests use
# (tests/test_replicas.py): PostgreSQL (state), moto_server (S3: the knowledge base), one
# llama_cpp.server with the packaged model, and N `tidings run` replicas in Slack HTTP mode on
# consecutive ports. Ctrl-C stops them all.
#
#   make cluster                            # 2 replicas from port 3000
#   REPLICAS=3 BASE_PORT=4000 config/deploy/local-cluster.sh
#
# Needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or .env); put a load balancer (or Slack's
# Request URL, one replica at a time) in front of the ports. Everything lives in $CLUSTER_DIR
# (default .tidings/cluster) and is thrown away on exit except the replicas' logs.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-.venv/bin/python}
REPLICAS=${REPLICAS:-2}
BASE_PORT=${BASE_PORT:-3000}
LEASE=${LEASE:-30}
CLUSTER_DIR=${CLUSTER_DIR:-.tidings/cluster}
mkdir -p "$CLUSTER_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping ${#pids[@]} processes" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# Start a server of tests/servers.py in the background and read the URL it prints first (in
# this shell, not a subshell, so its pid joins the ones stopped on exit).
start_server() { # kind variable
  local fifo="$CLUSTER_DIR/$1.url"
  rm -f "$fifo" && mkfifo "$fifo"
  "$PY" -m tests.servers "$1" >"$fifo" 2>"$CLUSTER_DIR/$1.log" &
  pids+=($!)
  read -r "$2" <"$fifo"
  rm -f "$fifo"
}

start_server postgres PG_URL
start_server s3 S3_URL
echo "PostgreSQL: $PG_URL   S3: $S3_URL" >&2

export AWS_ENDPOINT_URL="$S3_URL" AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
"$PY" -c "from tests.servers import make_bucket; make_bucket('$S3_URL', 'tidings-cluster')"
export TIDINGS_STATE__URL="$PG_URL" TIDINGS_STATE__CLAIM_LEASE_S="$LEASE"
export TIDINGS_KNOWLEDGE_BASE__URI="s3://tidings-cluster/kb"

MODEL=$("$PY" -c "from pathlib import Path; from core.model.local import packaged_model_path; print(packaged_model_path(Path('$CLUSTER_DIR/models')))")
MODEL_PORT=$("$PY" -c "from tests.servers import free_port; print(free_port())")
# llama_cpp.server also reads PORT / HOST from the environment, over its flags: unset them.
env -u PORT -u HOST "$PY" -m llama_cpp.server --model "$MODEL" --host 127.0.0.1 --port "$MODEL_PORT" --n_ctx 2048 \
  >"$CLUSTER_DIR/model.log" 2>&1 &
pids+=($!)
export TIDINGS_LLM__SERVER_URL="http://127.0.0.1:$MODEL_PORT/v1"
until "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$MODEL_PORT/v1/models', timeout=2)" 2>/dev/null; do
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "the model server exited; see $CLUSTER_DIR/model.log" >&2; exit 1; }
  sleep 0.5
done
echo "model server: $TIDINGS_LLM__SERVER_URL" >&2

"$PY" -m bots.cli db upgrade
"$PY" -m bots.cli --home "$CLUSTER_DIR/ingest" ingest docs

for n in $(seq 0 $((REPLICAS - 1))); do
  home="$CLUSTER_DIR/replica-$n"
  mkdir -p "$home"
  TIDINGS_HOME="$home" TIDINGS_SLACK__MODE=http TIDINGS_SLACK__PORT=$((BASE_PORT + n)) \
    "$PY" -m bots.cli run >"$home/run.log" 2>&1 &
  pids+=($!)
  echo "replica $n: http://127.0.0.1:$((BASE_PORT + n))/slack/events (log: $home/run.log)" >&2
done
echo "running; Ctrl-C stops everything" >&2
wait -n "${pids[@]}" || true
