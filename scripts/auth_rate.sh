#!/usr/bin/env bash
# Authentications per second for each authenticator: `starling bench conn` opens CLIENTS
# connections (at most 100 handshakes at once) against a fresh broker per run, one worker, and
# reports the connect rate. Kinds: anonymous, builtin (argon2id, a user made through the API),
# jwt (HS256), http (a local Python service, EMQX's contract; "http-cached" with the answer
# cache on, which bench's fresh client ids all miss: the cache key is the whole login), x509
# (mutual TLS, one client certificate, no session resumption). SCRAM is not measured:
# `starling bench` has no SCRAM client.
#
#   RUNS=3 CLIENTS=2000 KINDS="anonymous builtin jwt http x509" scripts/auth_rate.sh
#
# Prints one line per run and a median per kind. Loopback only; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/starling}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-2000}
KINDS=${KINDS:-"anonymous builtin jwt http x509"}
PORT=${PORT:-21990}
API=${API:-28990}
WORK=$(mktemp -d /tmp/starling-auth-rate.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
SECRET=auth-rate-secret-that-is-long-enough

# A token for user "bench", valid for an hour (HS256, made here with openssl: no extra tool).
b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64)
claims=$(printf '{"sub":"bench","exp":%d}' $(( $(date +%s) + 3600 )) | b64)
sig=$(printf '%s.%s' "$header" "$claims" | openssl dgst -sha256 -hmac "$SECRET" -binary | b64)
TOKEN="$header.$claims.$sig"

# The http service: allow bench/pw, deny the rest.
cat > "$WORK/service.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ok = (body.get("username"), body.get("password")) == ("bench", "pw")
        data = json.dumps({"result": "allow" if ok else "deny"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
class Server(ThreadingHTTPServer):
    request_queue_size = 1024  # the broker asks from many blocking threads at once
    daemon_threads = True
Server(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
SERVICE_PORT=$((PORT + 7))
python3 "$WORK/service.py" "$SERVICE_PORT" &

# Certificates for x509: a CA, the server's, and one client's (CN bench).
tls() {
  local d=$WORK/tls
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=auth-rate CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  for who in server client; do
    local cn=localhost ext="subjectAltName=DNS:localhost,IP:127.0.0.1"
    [[ $who == client ]] && cn=bench ext="extendedKeyUsage=clientAuth"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$cn" \
      -keyout "$d/$who.key" -out "$d/$who.csr" 2>/dev/null
    openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
      -days 1 -out "$d/$who.pem" -extfile <(printf '%s\n' "$ext") 2>/dev/null
  done
}
tls

config() {  # $1 kind: prints the config file
  echo "[node]"
  echo "worker_threads = 1"
  echo "data_dir = \"$WORK/data-$RANDOM$RANDOM\""
  echo "[log]"
  echo 'level = "warn"'
  echo "[api]"
  echo "bind = \"127.0.0.1:$API\""
  echo "[[listener]]"
  echo "bind = \"127.0.0.1:$PORT\""
  echo "max_connection_rate = 0"
  echo "[auth]"
  case $1 in
    anonymous) echo "allow_anonymous = true" ;;
    builtin) printf 'allow_anonymous = false\n[[auth.authn]]\nkind = "builtin"\n' ;;
    jwt) printf 'allow_anonymous = false\n[[auth.authn]]\nkind = "jwt"\nalgorithm = "HS256"\nsecret = "%s"\n' "$SECRET" ;;
    http) printf 'allow_anonymous = false\n[[auth.authn]]\nkind = "http"\nurl = "http://127.0.0.1:%s/auth"\ncache_ttl = "0s"\n' "$SERVICE_PORT" ;;
    http-cached) printf 'allow_anonymous = false\n[[auth.authn]]\nkind = "http"\nurl = "http://127.0.0.1:%s/auth"\n' "$SERVICE_PORT" ;;
    x509)
      printf 'allow_anonymous = false\n[[auth.authn]]\nkind = "x509"\n'
      printf '[[listener]]\nkind = "tls"\nbind = "127.0.0.1:%s"\n[listener.tls]\n' $((PORT + 1))
      printf 'certfile = "%s"\nkeyfile = "%s"\ncacertfile = "%s"\nverify = "required"\npeer_cert_as_username = "cn"\n' \
        "$WORK/tls/server.pem" "$WORK/tls/server.key" "$WORK/tls/ca.pem" ;;
  esac
}

wait_port() {  # $1 port: bounded wait for the broker to listen
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}

api() {  # $1 method, $2 path, $3 body, $4 token
  curl -s -X "$1" "http://127.0.0.1:$API$2" -H 'content-type: application/json' \
    ${4:+-H "Authorization: Bearer $4"} -d "$3"
}

make_builtin_user() {
  local t
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$API/api/v5/status" && break; sleep 0.05; done
  t=$(api POST /api/v5/login '{"username":"admin","password":"public"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["token"])')
  api POST /api/v5/users/admin/change_pwd '{"old_pwd":"public","new_pwd":"Auth-rate-42"}' "$t" > /dev/null
  t=$(api POST /api/v5/login '{"username":"admin","password":"Auth-rate-42"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["token"])')
  api POST /api/v5/authentication/password_based:built_in_database/users \
    '{"user_id":"bench","password":"pw"}' "$t" > /dev/null
}

for kind in $KINDS; do
  rates=()
  for run in $(seq 1 "$RUNS"); do
    config "$kind" > "$WORK/$kind.toml"
    "$BIN" start -c "$WORK/$kind.toml" > "$WORK/$kind.log" 2>&1 &
    bpid=$!
    wait_port "$PORT"
    args=(-c "$CLIENTS" -d 1s -p "$PORT" --json --broker-pid "$bpid")
    case $kind in
      builtin) make_builtin_user; args+=(-u bench -P pw) ;;
      jwt) args+=(-u bench -P "$TOKEN") ;;
      http | http-cached) args+=(-u bench -P pw) ;;
      x509) wait_port $((PORT + 1))
        args=(-c "$CLIENTS" -d 1s -p $((PORT + 1)) --cafile "$WORK/tls/ca.pem" --cert "$WORK/tls/client.pem"
          --key "$WORK/tls/client.key" --no-tls-resume --json --broker-pid "$bpid") ;;
    esac
    out=$(timeout 300 "$BIN" bench conn "${args[@]}" 2>/dev/null | tail -1)
    rate=$(python3 -c 'import sys,json; d=json.loads(sys.argv[1]); print(int(d["connect_rate"]) if d["connect_failed"]==0 else "failed:%d" % d["connect_failed"])' "$out")
    echo "$kind run $run: $rate conn/s"
    rates+=("$rate")
    kill "$bpid"; wait "$bpid" 2>/dev/null || true
  done
  printf '%s median: %s\n' "$kind" "$(printf '%s\n' "${rates[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")"
done
