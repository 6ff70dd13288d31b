# shellcheck shell=bash
# Shared by bench/http/run.sh, bench/http/cpu-per-request.sh and scripts/build-pgo.sh (sourced,
# not run).
# Needs: NGINX, WORK, UP_PORT, NGINX_PORT, and the PIDS array of the caller.

# The benchmark's request: a short chat completion naming the fake upstream's model id, so the
# router routes it manually, without classification.
# shellcheck disable=SC2034 # used by the scripts that source this file
BENCH_REQUEST='{"model":"bench-model","messages":[{"role":"user","content":"Hello there, how are you today?"}],"max_tokens":16}'

# Writes the wrk script $1, which POSTs the JSON body $2 (no single quotes in it), with the
# header $3: $4 as well when they are given.
write_post_lua() {
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    if [ $# -ge 4 ]; then printf 'wrk.headers["%s"] = "%s"\n' "$3" "$4"; fi
    printf "wrk.body = '%s'\n" "$2"
  } > "$1"
}

# Waits until $1 answers a small chat completion (at most WAIT_HTTP_TRIES × 0.2 s, default
# 900); further arguments are curl options (-f: only a 2xx answer counts).
wait_http() {
  local url="$1"; shift
  for _ in $(seq 1 "${WAIT_HTTP_TRIES:-900}"); do
    if curl -s "$@" -o /dev/null -H 'content-type: application/json' \
         -d '{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}' "$url"; then return 0; fi
    sleep 0.2
  done
  echo "timed out waiting for $url" >&2; return 1
}

# The median of the numbers on standard input, one per line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# The fake upstream's answer: one fixed chat completion.
BENCH_BODY='{"id":"chatcmpl-bench","object":"chat.completion","created":0,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}'

# The same answer streamed (server-sent events, with a usage chunk), under /sse/ (nginx reads
# the \n escapes).
BENCH_SSE='data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench-model","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":null}]}\n\ndata: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench-model","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}\n\ndata: [DONE]\n\n'

# Starts the fake upstream (nginx answering every POST with BENCH_BODY, or BENCH_SSE under /sse/,
# far faster than anything measured through it) on UP_PORT and nginx as a plain keep-alive
# reverse proxy in front of it on NGINX_PORT. Sets NGINX_PID to the proxy's master process.
start_upstream_and_nginx() {
  mkdir -p "$WORK/up" "$WORK/px"
  cat > "$WORK/up/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $WORK/up/nginx.pid; error_log $WORK/up/error.log warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $WORK/up; proxy_temp_path $WORK/up;
  fastcgi_temp_path $WORK/up; uwsgi_temp_path $WORK/up; scgi_temp_path $WORK/up;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP_PORT;
    location / { default_type application/json; return 200 '$BENCH_BODY'; }
    location /sse/ { default_type text/event-stream; return 200 '$BENCH_SSE'; } } }
CONF
  cat > "$WORK/px/nginx.conf" <<CONF
worker_processes auto; daemon off; pid $WORK/px/nginx.pid; error_log $WORK/px/error.log warn;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $WORK/px; proxy_temp_path $WORK/px;
  fastcgi_temp_path $WORK/px; uwsgi_temp_path $WORK/px; scgi_temp_path $WORK/px;
  keepalive_requests 1000000;
  upstream up { server 127.0.0.1:$UP_PORT; keepalive 128; }
  server { listen 127.0.0.1:$NGINX_PORT;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
  "$NGINX" -c "$WORK/up/nginx.conf" -p "$WORK/up" & PIDS+=($!)
  "$NGINX" -c "$WORK/px/nginx.conf" -p "$WORK/px" & NGINX_PID=$!; PIDS+=("$NGINX_PID")
}

# Writes $WORK/switchyard.yaml: one ModelEndpoint for the fake upstream (requests name its
# model id, so no classification runs).
write_switchyard_config() {
  cat > "$WORK/switchyard.yaml" <<YAML
apiVersion: switchyard.dev/v1alpha1
kind: ModelEndpoint
metadata: {name: bench}
spec: {model: bench-model, baseURL: 'http://127.0.0.1:$UP_PORT/v1'}
YAML
}
