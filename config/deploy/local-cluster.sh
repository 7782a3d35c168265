#!/usr/bin/env bash
# A Tidings cluster on one machine, from the same pieces the acceptance tests use
# (tests/test_replicas.py): PostgreSQL (state), moto_server (S3: the knowledge base), one
# llama_cpp.server with the packaged model, and N `tidings run` replicas in Slack HTTP mode on
# consecutive ports. Ctrl-C stops them all.
#
#   make cluster                       # 2 replicas from port 3000
#   REPLICAS=3 PORT=4000 config/deploy/local-cluster.sh
#
# Needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or .env); put a load balancer (or Slack's
# Request URL, one replica at a time) in front of the ports. Everything lives in $CLUSTER_DIR
# (default .tidings/cluster) and is thrown away on exit except the replicas' logs.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PY:-.venv/bin/python}
REPLICAS=${REPLICAS:-2}
PORT=${PORT:-3000}
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

# Read the first line a background server prints (its URL) from a FIFO.
start_server() { # kind
  local fifo="$CLUSTER_DIR/$1.url"
  rm -f "$fifo" && mkfifo "$fifo"
  "$PY" -m tests.servers "$1" >"$fifo" 2>"$CLUSTER_DIR/$1.log" &
  pids+=($!)
  local url
  read -r url <"$fifo"
  rm -f "$fifo"
  echo "$url"
}

PG_URL=$(start_server postgres)
S3_URL=$(start_server s3)
echo "PostgreSQL: $PG_URL   S3: $S3_URL" >&2

export AWS_ENDPOINT_URL="$S3_URL" AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
"$PY" -c "from tests.servers import make_bucket; make_bucket('$S3_URL', 'tidings-cluster')"
export TIDINGS_STATE__URL="$PG_URL" TIDINGS_STATE__CLAIM_LEASE_S="$LEASE"
export TIDINGS_KNOWLEDGE_BASE__URI="s3://tidings-cluster/kb"

MODEL=$("$PY" -c "from pathlib import Path; from core.model.local import packaged_model_path; print(packaged_model_path(Path('$CLUSTER_DIR/models')))")
MODEL_PORT=$("$PY" -c "from tests.servers import free_port; print(free_port())")
"$PY" -m llama_cpp.server --model "$MODEL" --host 127.0.0.1 --port "$MODEL_PORT" --n_ctx 2048 \
  >"$CLUSTER_DIR/model.log" 2>&1 &
pids+=($!)
export TIDINGS_LLM__SERVER_URL="http://127.0.0.1:$MODEL_PORT/v1"
until curl -sf "http://127.0.0.1:$MODEL_PORT/v1/models" >/dev/null; do sleep 0.5; done
echo "model server: $TIDINGS_LLM__SERVER_URL" >&2

"$PY" -m bots.cli db upgrade
"$PY" -m bots.cli --home "$CLUSTER_DIR/ingest" ingest docs

for n in $(seq 0 $((REPLICAS - 1))); do
  home="$CLUSTER_DIR/replica-$n"
  mkdir -p "$home"
  TIDINGS_HOME="$home" TIDINGS_SLACK__MODE=http TIDINGS_SLACK__PORT=$((PORT + n)) \
    "$PY" -m bots.cli run >"$home/run.log" 2>&1 &
  pids+=($!)
  echo "replica $n: http://127.0.0.1:$((PORT + n))/slack/events (log: $home/run.log)" >&2
done
echo "running; Ctrl-C stops everything" >&2
wait -n "${pids[@]}" || true
