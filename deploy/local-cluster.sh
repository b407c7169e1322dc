#!/usr/bin/env bash
# Starts a throwaway ZteRollout cluster on this machine: PostgreSQL (initdb + pg_ctl in a temp dir, loopback port),
# the schema, N silos and M gateways on loopback ports. Everything it started is stopped on exit, by recorded pids.
#
#   deploy/local-cluster.sh                       # 3 silos, 2 gateways; Ctrl-C stops everything
#   deploy/local-cluster.sh --simulate 1000       # ... then runs the fleet simulator against it and exits
#   options: --silos N  --gateways M  --gateway-port P (first gateway; default 5080)  --pg-port P  --keep (keep the temp dir)
#
# Each process's pid is in <temp dir>/pids/<name> (printed at start), for fault experiments: `kill -9 $(cat .../pids/silo-2)`
# is declared dead by the other silos within a few seconds, and devices see slower answers, not errors (docs/design.md,
# "Cluster mode and failures"). tests/ZteRollout.Tests/Cluster starts the same binaries with the same arguments.
set -euo pipefail

silos=3 gateways=2 gateway_port=5080 pg_port=55432 simulate=0 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --silos) silos=$2; shift 2 ;;
    --gateways) gateways=$2; shift 2 ;;
    --gateway-port) gateway_port=$2; shift 2 ;;
    --pg-port) pg_port=$2; shift 2 ;;
    --simulate) simulate=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/zte-cluster.XXXXXX)
data="$work/data"            # shared by every silo and gateway: signing key, admin key, device-token key, package blobs
logs="$work/logs"
mkdir -p "$data" "$logs" "$work/pids"
pids=()

pg_bin=$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || command -v initdb)")
[ -x "$pg_bin/initdb" ] || { echo "PostgreSQL binaries (initdb, pg_ctl) not found; apt-get install postgresql" >&2; exit 1; }

# PostgreSQL refuses to run as root: run it as the 'postgres' user (the Debian package creates it) when we are root.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" -eq 0 ]; then id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres; chown postgres "$work"; fi

cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  [ -d "$work/pg" ] && as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1
  if [ "$keep" -eq 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "postgres: initdb in $work/pg, port $pg_port"
as_pg "$pg_bin/initdb" -D "$work/pg" -A trust -U zte >"$logs/initdb.log"
as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -c max_connections=300 -k $work/pg" start >/dev/null
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U zte zte_rollout
# Each process pools its own connections: keep the pools within the server's max_connections.
cs="Host=127.0.0.1;Port=$pg_port;Database=zte_rollout;Username=zte;Maximum Pool Size=40"

echo "build: silo and gateway hosts (Release)"
dotnet build -c Release -v q -nologo "$root/silo/ZteRollout.Silo.Host" >"$logs/build-silo.log"
dotnet build -c Release -v q -nologo "$root/gateway/ZteRollout.Gateway.Host" >"$logs/build-gateway.log"
silo_dll="$root/silo/ZteRollout.Silo.Host/bin/Release/net10.0/zte-rollout-server.dll"
gateway_dll="$root/gateway/ZteRollout.Gateway.Host/bin/Release/net10.0/zte-rollout-gateway.dll"
db=(--Rollout:Database:Kind=postgresql "--Rollout:Database:ConnectionString=$cs" --Rollout:Cluster:ClusterId=local --Rollout:Cluster:ServiceId=zte-rollout-local)

dotnet "$silo_dll" migrate "${db[@]}" --data-dir "$data"

# Secrets are written owner-only from their first byte (umask 077; no window with default permissions).
# The admin key every gateway accepts (gateways read <data>/admin-api-key; silos do not create one), and the key of
# the MAC in device tokens, which every gateway must share (docs/security.md).
(
  umask 077
  printf 'zak1_%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$data/admin-api-key"
  head -c 32 /dev/urandom | base64 >"$data/device-token-key"
)

# Throwaway cluster certificates: a CA for this run, and one certificate it issues to every silo and gateway (client
# and server use). Silo and gateway ports then accept only TLS connections presenting a certificate of this CA.
certs="$work/certs"
(
  umask 077
  mkdir -p "$certs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=zte-rollout local cluster CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=zte-rollout member" \
    -keyout "$certs/member.key" -out "$certs/member.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$certs/member.ext"
  openssl x509 -req -in "$certs/member.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" -CAcreateserial -days 2 \
    -extfile "$certs/member.ext" -out "$certs/member.crt" 2>/dev/null
)
tls=(--Rollout:Cluster:Tls:CertificatePath="$certs/member.crt" --Rollout:Cluster:Tls:KeyPath="$certs/member.key" --Rollout:Cluster:Tls:CaPath="$certs/ca.crt")

for i in $(seq 1 "$silos"); do
  dotnet "$silo_dll" --role silo "${db[@]}" "${tls[@]}" --data-dir "$data" --urls "http://127.0.0.1:$((5180 + i))" \
    --Rollout:Silo:SiloPort=$((11110 + i)) --Rollout:Silo:GatewayPort=$((30010 + i)) >"$logs/silo-$i.log" 2>&1 &
  pids+=($!)
  echo $! >"$work/pids/silo-$i"
  echo "silo $i: pid $!, silo port $((11110 + i)), gateway port $((30010 + i)), health http://127.0.0.1:$((5180 + i))"
done

for j in $(seq 1 "$gateways"); do
  port=$((gateway_port + j - 1))
  ddi_port=$((8080 + j - 1))   # hawkBit DDI (HTTP/1.1), one port per gateway
  # Plaintext on loopback, asked for explicitly: the CLI and the simulator on this machine connect without a CA.
  dotnet "$gateway_dll" "${db[@]}" "${tls[@]}" --data-dir "$data" --urls "http://127.0.0.1:$port" --Rollout:Gateway:AllowPlaintext=true \
    --Rollout:Ddi:Url "http://127.0.0.1:$ddi_port" >"$logs/gateway-$j.log" 2>&1 &
  pids+=($!)
  echo $! >"$work/pids/gateway-$j"
  echo "gateway $j: pid $!, http://127.0.0.1:$port, hawkBit DDI http://127.0.0.1:$ddi_port"
done

cli=(dotnet run -c Release --project "$root/gateway/ZteRollout.Cli" --)
echo -n "waiting for the cluster"
for _ in $(seq 1 120); do
  if "${cli[@]}" --gateway "http://127.0.0.1:$gateway_port" --data-dir "$data" fleet status >/dev/null 2>&1; then ready=1; break; fi
  echo -n "."; sleep 1
done
echo
[ "${ready:-0}" -eq 1 ] || { echo "cluster did not become ready; logs in $logs" >&2; keep=1; exit 1; }

echo "ready. admin key: $data/admin-api-key   logs: $logs   pids: $work/pids"
echo "  ZTE_DATA_DIR=$data dotnet run --project gateway/ZteRollout.Cli -- --gateway http://127.0.0.1:$gateway_port fleet status"

if [ "$simulate" -gt 0 ]; then
  dotnet run -c Release --project "$root/tests/ZteRollout.FleetSimulator" -- \
    --gateway "http://127.0.0.1:$gateway_port" --data-dir "$data" --devices "$simulate" --fail-rate 0.05
  exit $?
fi

echo "Ctrl-C stops the cluster."
wait
