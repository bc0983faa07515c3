#!/usr/bin/env bash
# Start, stop, restart or inspect tiktok-analyzer: through systemd when its unit is installed
# and systemd runs, otherwise as a background "tiktok-analyzer serve" with a pid file.
set -euo pipefail

# shellcheck source=scripts/ops_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ops_lib.sh"

usage() {
    cat <<EOF
usage: $(basename "$0") start|stop|restart|status [--no-block] [--wait-ready]

  start      start the service (background mode: waits until it listens)
  stop       stop it (SIGTERM, wait for the drain, then SIGKILL) and mark it stopped on
             purpose, so health_check.sh leaves it down
  restart    stop, then start
  status     say which mode is in use, whether it runs and whether /health is ready;
             exit 0 ready, 1 running but not ready, 3 not running, 4 not started by us
             but something else answers on the port (it says what, when it can tell)

  --no-block    systemd mode: queue the job instead of waiting for READY=1
  --wait-ready  wait until /health says ready (TIKTOK_ANALYZER_READY_WAIT_S, default 900)

Mode: systemd when /run/systemd/system exists and "systemctl cat $OPS_UNIT" works, else
background; TIKTOK_ANALYZER_SERVICE_MODE=systemd|background forces one.
Settings: TIKTOK_ANALYZER_* from the environment, then /etc/tiktok-analyzer/env
(TIKTOK_ANALYZER_ENV_FILE); a background restart reuses the settings of the last start
for any variable not set now. Background files: <data_dir>/tiktok-analyzer.pid,
<data_dir>/tiktok-analyzer.env (settings of the last start), <log_dir>/serve.out.
EOF
}

die() {
    echo "restart_services: $*" >&2
    exit 1
}

# The service's exit status for an error a restart cannot fix (EX_CONFIG, sysexits.h).
readonly EX_CONFIG=78

# True when anything accepts a connection on the service's port (curl 7: refused).
port_answers() {
    local rc=0
    curl -s -o /dev/null --max-time 3 "$(ops_base_url)/health/live" 2>/dev/null || rc=$?
    ((rc != 7))
}

# "pid N: command line" of whoever listens on the port, when ss can tell (root sees all).
port_owner() {
    local port=${TIKTOK_ANALYZER_PORT:-8003} pid
    command -v ss >/dev/null || return 0
    pid=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1) || true
    pid=${pid#pid=}
    [[ -n $pid && -r /proc/$pid/cmdline ]] || return 0
    printf 'pid %s: %s\n' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-120)"
}

# Said instead of "not running" when the port answers anyway: a server someone else started
# (make run, a shell, another checkout). Exit 4.
report_foreign() {
    local owner
    port_answers || return 0
    owner=$(port_owner)
    echo "port: something answers on $(ops_base_url) that $1${owner:+ ($owner)};" \
        "stop it, or set another TIKTOK_ANALYZER_PORT"
    show_health || true
    return 4
}

# --- background mode ------------------------------------------------------------------

pid_file() { printf '%s/tiktok-analyzer.pid\n' "$(ops_data_dir)"; }
saved_env_file() { printf '%s/tiktok-analyzer.env\n' "$(ops_data_dir)"; }

serve_bin() {
    if [[ -n ${TIKTOK_ANALYZER_BIN:-} ]]; then
        echo "$TIKTOK_ANALYZER_BIN"
    elif [[ -x $OPS_ROOT/.venv/bin/tiktok-analyzer ]]; then
        echo "$OPS_ROOT/.venv/bin/tiktok-analyzer"
    else
        command -v tiktok-analyzer || die "no tiktok-analyzer executable (run make install)"
    fi
}

# The pid from the pid file, only while it is still our server (pids get reused).
running_pid() {
    local file pid
    file=$(pid_file)
    [[ -r $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'tiktok-analyzer.* serve' || return 1
    echo "$pid"
}

# Alive and not a zombie: a zombie waits for a reaper, not for us.
alive() {
    local stat
    stat=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $stat && ${stat%% *} != Z ]]
}

# Any live (non-zombie) process left in process group $1.
group_alive() {
    ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# Settings of the last start fill in what the caller's environment does not set.
load_saved_env() {
    local file line key
    file=$(saved_env_file)
    [[ -r $file ]] || return 0
    while IFS= read -r -d '' line; do
        key=${line%%=*}
        if [[ $key == TIKTOK_ANALYZER_* && -z ${!key+set} ]]; then
            export "$key=${line#*=}"
        fi
    done <"$file"
}

save_env() {
    local file
    file=$(saved_env_file)
    (
        umask 077
        env -0 | grep -z '^TIKTOK_ANALYZER_' >"$file.tmp" || true
        mv "$file.tmp" "$file"
    )
}

bg_start() {
    local pid bin out waited=0 max=${TIKTOK_ANALYZER_START_WAIT_S:-60}
    if pid=$(running_pid); then
        echo "already running (pid $pid)"
        return 0
    fi
    # Otherwise the wait below would take the other server's answer for ours.
    if port_answers; then
        die "$(ops_base_url) is already answered by a server not started by this script" \
            "$(port_owner); stop it, or set another TIKTOK_ANALYZER_PORT"
    fi
    bin=$(serve_bin)
    mkdir -p "$(ops_data_dir)" "$(ops_log_dir)"
    out="$(ops_log_dir)/serve.out"
    [[ -f $out ]] && mv -f "$out" "$out.1"
    save_env
    cd "$OPS_ROOT"
    # Its own session and process group, so stop can reach the workers it spawns.
    setsid "$bin" serve </dev/null >"$out" 2>&1 &
    pid=$!
    echo "$pid" >"$(pid_file)"
    rm -f "$(ops_stopped_flag)"
    until curl -s -o /dev/null --max-time 2 "$(ops_base_url)/health/live"; do
        if ! alive "$pid"; then
            bg_exited "$pid" "$out"
            return
        fi
        if ((waited >= max)); then
            echo "started (pid $pid) but not listening on $(ops_base_url) after ${max}s" >&2
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "started (pid $pid), listening on $(ops_base_url)"
}

# Our server died: say how, and pass on EX_CONFIG so callers do not retry in a loop.
bg_exited() {
    local rc=0
    wait "$1" 2>/dev/null || rc=$?
    rm -f "$(pid_file)"
    if ((rc == EX_CONFIG)); then
        echo "configuration error: the server exited with status $EX_CONFIG; a restart" \
            "cannot fix it. Last lines of $2:" >&2
    elif ((rc == 127)); then # not our child: started by an earlier run
        echo "server exited; last lines of $2:" >&2
    else
        echo "server exited (status $rc); last lines of $2:" >&2
    fi
    tail -n 20 "$2" >&2
    return $((rc == EX_CONFIG ? EX_CONFIG : 1))
}

bg_stop() {
    local pid waited=0 max=${TIKTOK_ANALYZER_DRAIN_TIMEOUT_S:-60}
    # The service drains for drain_timeout_s, then needs a moment to stop its workers.
    max=$((${max%.*} + 30))
    if ! pid=$(running_pid); then
        rm -f "$(pid_file)"
        echo "not running"
        return 0
    fi
    kill -TERM "$pid"
    # A stopped (SIGSTOP) process only sees SIGTERM once continued, as systemd also does.
    kill -CONT "$pid" 2>/dev/null || true
    while alive "$pid" && ((waited < max)); do
        sleep 1
        waited=$((waited + 1))
    done
    if alive "$pid"; then
        echo "pid $pid still running after ${max}s: SIGKILL to its process group" >&2
    fi
    # Like KillMode=mixed: whatever is left of the group after the main process goes is killed.
    if group_alive "$pid"; then
        kill -KILL -- "-$pid" 2>/dev/null || true
        waited=0
        while group_alive "$pid" && ((waited < 10)); do
            sleep 1
            waited=$((waited + 1))
        done
    fi
    rm -f "$(pid_file)"
    echo "stopped (pid $pid)"
}

bg_status() {
    local pid
    echo "mode: background (pid file $(pid_file))"
    if pid=$(running_pid); then
        echo "process: running (pid $pid)"
        return 0
    fi
    echo "process: not running (no live server from $(pid_file))"
    report_foreign "restart_services.sh did not start" || return
    return 3
}

# --- systemd mode ---------------------------------------------------------------------

sd_status() {
    local state text
    echo "mode: systemd (unit $OPS_UNIT)"
    state=$(systemctl show -p ActiveState -p SubState -p Result -p MainPID "$OPS_UNIT" |
        tr '\n' ' ')
    echo "unit: $state"
    text=$(systemctl show -p StatusText --value "$OPS_UNIT" || true)
    [[ -z $text ]] || echo "status: $text"
    if [[ $(systemctl show -p ExecMainStatus --value "$OPS_UNIT" || true) == "$EX_CONFIG" ]]; then
        echo "last exit: status $EX_CONFIG, a configuration error a restart cannot fix" \
            "(systemctl status $OPS_UNIT)"
    fi
    [[ $(systemctl show -p ActiveState --value "$OPS_UNIT") =~ ^(active|reloading|activating|deactivating)$ ]] &&
        return 0
    report_foreign "the unit $OPS_UNIT did not start" || return
    return 3
}

# --- common ---------------------------------------------------------------------------

wait_ready() {
    local max=${TIKTOK_ANALYZER_READY_WAIT_S:-900} waited=0 code status reason pid=${1:-}
    while :; do
        read -r code status reason < <(ops_health 5)
        if [[ $code == 200 ]]; then
            echo "ready"
            return 0
        fi
        # No point waiting out the limit for what cannot become ready.
        if [[ $code == 503 && $reason == model_unavailable:* ]]; then
            echo "configuration error: $status: $reason" >&2
            return "$EX_CONFIG"
        fi
        if [[ -n $pid ]] && ! alive "$pid"; then
            bg_exited "$pid" "$(ops_log_dir)/serve.out"
            return
        fi
        if ((waited >= max)); then
            echo "not ready after ${max}s (health: $code $status $reason)" >&2
            return 1
        fi
        sleep 2
        waited=$((waited + 2))
    done
}

show_health() {
    local code status reason
    read -r code status reason < <(ops_health 5)
    if [[ $code == 200 ]]; then
        echo "health: ready ($(ops_base_url)/health)"
        return 0
    fi
    echo "health: not ready: HTTP $code, status $status, reason $reason ($(ops_base_url)/health)"
    return 1
}

main() {
    local action=${1:-} want_ready="" mode rc=0
    local -a sd_flags=()
    [[ $action == -h || $action == --help ]] && {
        usage
        exit 0
    }
    [[ $action =~ ^(start|stop|restart|status)$ ]] || {
        usage >&2
        exit 64
    }
    shift
    while (($#)); do
        case $1 in
            --no-block) sd_flags+=(--no-block) ;;
            --wait-ready) want_ready=1 ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                usage >&2
                exit 64
                ;;
        esac
        shift
    done
    ops_load_env_file
    mode=$(ops_mode)
    if [[ $mode == background && $action == restart ]]; then
        load_saved_env
    fi
    case $mode/$action in
        systemd/start | systemd/restart)
            rm -f "$(ops_stopped_flag)"
            systemctl "$action" "${sd_flags[@]}" "$OPS_UNIT"
            ;;
        systemd/stop)
            systemctl stop "$OPS_UNIT"
            mkdir -p "$(ops_data_dir)" && ops_timestamp >"$(ops_stopped_flag)"
            ;;
        background/start) bg_start ;;
        background/stop)
            bg_stop
            mkdir -p "$(ops_data_dir)" && ops_timestamp >"$(ops_stopped_flag)"
            ;;
        background/restart)
            bg_stop
            bg_start
            ;;
        systemd/status | background/status)
            if [[ $mode == systemd ]]; then sd_status || rc=$?; else bg_status || rc=$?; fi
            if ((rc == 0)); then show_health || rc=1; fi
            exit "$rc"
            ;;
    esac
    if [[ -n $want_ready ]]; then
        wait_ready "$(running_pid || true)"
    fi
}

main "$@"
