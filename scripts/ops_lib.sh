# shellcheck shell=bash
# Helpers shared by the operations scripts (sourced, not run).

# The checkout or install prefix: scripts/ lives directly under it.
OPS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OPS_UNIT=${TIKTOK_ANALYZER_UNIT:-tiktok-analyzer}

# Take TIKTOK_ANALYZER_* from the service's env file for whatever the caller did not set,
# so cron jobs see the same port and directories as the service.
ops_load_env_file() {
    local file=${TIKTOK_ANALYZER_ENV_FILE:-/etc/tiktok-analyzer/env} line key value
    [[ -r $file ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?(TIKTOK_ANALYZER_[A-Z0-9_]+)=(.*)$ ]] || continue
        key=${BASH_REMATCH[2]}
        value=${BASH_REMATCH[3]}
        if [[ $value =~ ^\"(.*)\"[[:space:]]*$ || $value =~ ^\'(.*)\'[[:space:]]*$ ]]; then
            value=${BASH_REMATCH[1]}
        fi
        [[ -n ${!key+set} ]] || export "$key=$value"
    done <"$file"
}

# A relative setting is relative to the checkout, whatever directory cron starts us in.
ops_abspath() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$OPS_ROOT/$1" ;;
    esac
}

ops_data_dir() { ops_abspath "${TIKTOK_ANALYZER_DATA_DIR:-data}"; }
ops_log_dir() { ops_abspath "${TIKTOK_ANALYZER_LOG_DIR:-logs}"; }

# Base URL of the local service; a wildcard bind address is reached over loopback.
ops_base_url() {
    local host=${TIKTOK_ANALYZER_HOST:-127.0.0.1}
    case $host in
        0.0.0.0 | "") host=127.0.0.1 ;;
        :: | "[::]") host="[::1]" ;;
    esac
    printf 'http://%s:%s\n' "$host" "${TIKTOK_ANALYZER_PORT:-8003}"
}

# systemd when it runs as PID 1 and knows the unit; TIKTOK_ANALYZER_SERVICE_MODE overrides.
ops_mode() {
    case ${TIKTOK_ANALYZER_SERVICE_MODE:-auto} in
        systemd | background) printf '%s\n' "$TIKTOK_ANALYZER_SERVICE_MODE" ;;
        auto)
            if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null \
                && systemctl cat "$OPS_UNIT" >/dev/null 2>&1; then
                echo systemd
            else
                echo background
            fi
            ;;
        *)
            echo "TIKTOK_ANALYZER_SERVICE_MODE must be auto, systemd or background" >&2
            return 64
            ;;
    esac
}

ops_timestamp() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# Prints "<http code> <status> <reason>" for GET /health; code 000 when nothing answered.
ops_health() {
    local timeout=${1:-5} body code
    body=$(mktemp)
    # The key goes through stdin (-H @-), not the command line that ps shows.
    code=$(printf 'X-API-Key: %s\n' "${TIKTOK_ANALYZER_API_KEY:-}" |
        curl -s -H @- -o "$body" -w '%{http_code}' --max-time "$timeout" \
            "$(ops_base_url)/health" 2>/dev/null) || code=000
    if [[ $code == 000 ]]; then
        echo "000 unreachable -"
    else
        printf '%s ' "$code"
        python3 - "$body" <<'PY' || echo "unparsable -"
import json
import sys

try:
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    reason = str(doc.get("reason") or "-").replace("\n", " ")
    print(doc.get("status") or "unknown", reason)
except (OSError, ValueError, AttributeError):
    print("unparsable -")
PY
    fi
    rm -f "$body"
}

# Marker left by "restart_services.sh stop": the service is down on purpose.
ops_stopped_flag() { printf '%s/tiktok-analyzer.stopped\n' "$(ops_data_dir)"; }
