#!/usr/bin/env bash
# Checks GET /health and restarts tiktok-analyzer (via restart_services.sh) after repeated
# failures, with a cooldown between restarts. Meant for cron every 10 minutes.
#
# Exit codes: see usage (-h), also in docs/operations.md.
set -euo pipefail

# shellcheck source=scripts/ops_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ops_lib.sh"

# Exit codes: described in usage below.
readonly EXIT_HEALTHY=0 EXIT_UNHEALTHY=1 EXIT_RESTARTED=2 EXIT_COOLDOWN=3
readonly EXIT_START_LIMIT=4 EXIT_SKIPPED=5 EXIT_LOCKED=6 EXIT_RESTART_FAILED=7 EXIT_AUTH=8
readonly EXIT_CONFIG=9 EXIT_STORAGE=10 EXIT_USAGE=64
# The service's own exit status for an error a restart cannot fix (EX_CONFIG, sysexits.h).
readonly SERVICE_EX_CONFIG=78

usage() {
    cat <<EOF
usage: $(basename "$0") [options]

Checks $(ops_base_url)/health once. A failure is: no answer within the timeout, or an answer
that is not ready (except "starting" within the start grace, and "draining", which are
skipped). After N consecutive failures the service is restarted through
restart_services.sh, at most once per cooldown. A configuration error (the service exited
with status 78, or /health says model_unavailable) is reported, never restarted; so is a
job database the service cannot write (/health: storage), which a restart cannot free and
would lose the results it keeps in memory. Every decision goes to
<log_dir>/health_check.log.

options (environment variable in brackets):
  -H, --host HOST        service host [TIKTOK_ANALYZER_HOST, default 127.0.0.1]
  -p, --port PORT        service port [TIKTOK_ANALYZER_PORT, default 8003]
  -t, --timeout S        HTTP timeout [TIKTOK_ANALYZER_HEALTH_TIMEOUT_S, default 10]
  -n, --failures N       consecutive failures before a restart
                         [TIKTOK_ANALYZER_HEALTH_FAILURES, default 3]
  -c, --cooldown S       minimum time between restarts
                         [TIKTOK_ANALYZER_HEALTH_COOLDOWN_S, default 1800]
  -g, --start-grace S    how long "starting" is tolerated before it counts as a failure
                         [TIKTOK_ANALYZER_HEALTH_START_GRACE_S, default 1200]
      --state-dir DIR    failure counter, lock and last restart [default <data_dir>]
      --log-file FILE    [default <log_dir>/health_check.log]
  -h, --help

exit codes:
  0 healthy             1 unhealthy, below the failure threshold
  2 restarted           3 restart due but held back by the cooldown
  4 systemd start limit hit: not restarting, an operator must act
  5 skipped (starting, draining, stopping, or stopped on purpose)
  6 another health check holds the lock   7 the restart command failed
  8 the service refused the API key (it runs; a restart would not help)
  9 configuration error (exit status 78, or /health: model_unavailable): not restarting,
    an operator must fix the setting or the model files
  10 the service cannot write its job database (/health: storage, e.g. disk full): not
    restarting, which would lose the results it keeps in memory; an operator must free space
  64 usage
EOF
}

timeout_s=${TIKTOK_ANALYZER_HEALTH_TIMEOUT_S:-}
threshold=${TIKTOK_ANALYZER_HEALTH_FAILURES:-}
cooldown=${TIKTOK_ANALYZER_HEALTH_COOLDOWN_S:-}
start_grace=${TIKTOK_ANALYZER_HEALTH_START_GRACE_S:-}
state_dir=""
log_file=""

parse_args() {
    while (($#)); do
        case $1 in
            -H | --host) export TIKTOK_ANALYZER_HOST=${2:?} && shift ;;
            -p | --port) export TIKTOK_ANALYZER_PORT=${2:?} && shift ;;
            -t | --timeout) timeout_s=${2:?} && shift ;;
            -n | --failures) threshold=${2:?} && shift ;;
            -c | --cooldown) cooldown=${2:?} && shift ;;
            -g | --start-grace) start_grace=${2:?} && shift ;;
            --state-dir) state_dir=${2:?} && shift ;;
            --log-file) log_file=${2:?} && shift ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                usage >&2
                exit "$EXIT_USAGE"
                ;;
        esac
        shift
    done
}

log() {
    local level=$1
    shift
    local line
    line="$(ops_timestamp) health_check[$$] $level: $*"
    printf '%s\n' "$line" >>"$log_file"
    if [[ $level == ERROR ]]; then
        printf '%s\n' "$line" >&2
    else
        printf '%s\n' "$line"
    fi
}

# State: failures=N, last_restart=EPOCH, starting_since=EPOCH (one per line).
failures=0 last_restart=0 starting_since=0
load_state() {
    local key value
    [[ -r $state_dir/health_check.state ]] || return 0
    while IFS='=' read -r key value; do
        [[ $value =~ ^[0-9]+$ ]] || continue
        case $key in
            failures) failures=$value ;;
            last_restart) last_restart=$value ;;
            starting_since) starting_since=$value ;;
        esac
    done <"$state_dir/health_check.state"
}

save_state() {
    printf 'failures=%s\nlast_restart=%s\nstarting_since=%s\n' \
        "$failures" "$last_restart" "$starting_since" >"$state_dir/health_check.state.tmp"
    mv -f "$state_dir/health_check.state.tmp" "$state_dir/health_check.state"
}

finish() {
    save_state
    exit "$1"
}

start_limit_hit() {
    log ERROR "systemd start limit hit for $OPS_UNIT (Result=start-limit-hit):" \
        "NOT restarting. Find the cause (journalctl -u $OPS_UNIT -b), then run:" \
        "systemctl reset-failed $OPS_UNIT && systemctl start $OPS_UNIT"
    finish "$EXIT_START_LIMIT"
}

# A restart cannot fix it, so none is made; ERROR goes to stderr, which cron mails.
config_error() {
    failures=0
    log ERROR "configuration error: $*; NOT restarting (a restart cannot fix it)." \
        "Fix the setting in /etc/tiktok-analyzer/env or the model files, then:" \
        "$OPS_ROOT/scripts/restart_services.sh restart"
    finish "$EXIT_CONFIG"
}

# The service runs and keeps its results in memory until the disk takes them: a restart cannot
# free the disk and would lose them, so none is made; ERROR goes to stderr, which cron mails.
storage_error() {
    failures=0
    log ERROR "storage error: $*; NOT restarting (a restart cannot free the disk and would" \
        "lose the results the service keeps in memory). Free space for $(ops_data_dir);" \
        "the service writes them by itself once it can"
    finish "$EXIT_STORAGE"
}

# systemd's own view first: it knows about starts, stops, the start limit and exit statuses.
check_systemd_state() {
    local active sub result
    active=$(systemctl show -p ActiveState --value "$OPS_UNIT")
    sub=$(systemctl show -p SubState --value "$OPS_UNIT")
    result=$(systemctl show -p Result --value "$OPS_UNIT")
    if [[ $active == failed &&
        $(systemctl show -p ExecMainStatus --value "$OPS_UNIT") == "$SERVICE_EX_CONFIG" ]]; then
        config_error "$OPS_UNIT exited with status $SERVICE_EX_CONFIG (EX_CONFIG):" \
            "$(systemctl show -p StatusText --value "$OPS_UNIT" || true)" \
            "(journalctl -u $OPS_UNIT -b)"
    fi
    if [[ $result == start-limit-hit && $active == failed ]]; then
        start_limit_hit
    fi
    case $active in
        activating | deactivating | reloading)
            log INFO "skipped: $OPS_UNIT is $active ($sub)"
            finish "$EXIT_SKIPPED"
            ;;
    esac
}

restart_service() {
    local now=$1 out rc=0
    log WARN "restarting $OPS_UNIT after $failures consecutive failures" \
        "via restart_services.sh restart"
    last_restart=$now failures=0 starting_since=0
    save_state
    # 9>&-: a server started from here must not inherit (and so hold forever) our lock.
    out=$("$OPS_ROOT/scripts/restart_services.sh" restart --no-block 2>&1 9>&-) || rc=$?
    while IFS= read -r line; do
        [[ -n $line ]] && log INFO "restart_services: $line"
    done <<<"$out"
    if ((rc == 0)); then
        log INFO "restart done"
        finish "$EXIT_RESTARTED"
    fi
    if [[ $mode == systemd && $(systemctl show -p Result --value "$OPS_UNIT") == start-limit-hit ]]; then
        start_limit_hit
    fi
    if ((rc == SERVICE_EX_CONFIG)); then
        config_error "the restarted server exited with status $SERVICE_EX_CONFIG (EX_CONFIG)"
    fi
    log ERROR "restart failed (restart_services.sh exit $rc)"
    finish "$EXIT_RESTART_FAILED"
}

main() {
    local now code status reason detail
    parse_args "$@"
    ops_load_env_file
    timeout_s=${timeout_s:-10} threshold=${threshold:-3}
    cooldown=${cooldown:-1800} start_grace=${start_grace:-1200}
    state_dir=${state_dir:-$(ops_data_dir)}
    log_file=${log_file:-$(ops_log_dir)/health_check.log}
    mkdir -p "$state_dir" "$(dirname "$log_file")"

    exec 9>>"$state_dir/health_check.lock"
    if ! flock -n 9; then
        log INFO "skipped: another health check is running (lock $state_dir/health_check.lock)"
        exit "$EXIT_LOCKED"
    fi
    load_state
    mode=$(ops_mode)
    now=$(date +%s)

    if [[ -e $(ops_stopped_flag) ]]; then
        log INFO "skipped: stopped on purpose at $(<"$(ops_stopped_flag)")" \
            "(restart_services.sh stop); restart_services.sh start resumes checking"
        failures=0
        finish "$EXIT_SKIPPED"
    fi
    [[ $mode == systemd ]] && check_systemd_state

    # 9>&-: bash does not wait for a process substitution; it must not outlive us holding the lock.
    read -r code status reason < <(ops_health "$timeout_s" 9>&-)
    detail="HTTP $code, status $status, reason $reason"
    if [[ $code == 200 ]]; then
        ((failures > 0)) && log INFO "recovered after $failures failure(s)"
        failures=0 starting_since=0
        log INFO "healthy ($detail)"
        finish "$EXIT_HEALTHY"
    fi
    if [[ $code == 503 && $reason == model_unavailable:* ]]; then
        config_error "the service cannot load its model ($detail)"
    fi
    if [[ $code == 503 && $reason == storage:* ]]; then
        storage_error "the service cannot write its job database ($detail)"
    fi
    if [[ $code == 401 || $code == 403 ]]; then
        log ERROR "the service refused our API key ($detail): set TIKTOK_ANALYZER_API_KEY" \
            "in /etc/tiktok-analyzer/env; not counted as a failure"
        finish "$EXIT_AUTH"
    fi
    if [[ $status == starting ]]; then
        ((starting_since > 0)) || starting_since=$now
        if ((now - starting_since < start_grace)); then
            log INFO "skipped: service is starting for $((now - starting_since))s" \
                "(grace ${start_grace}s; $detail)"
            finish "$EXIT_SKIPPED"
        fi
        detail="$detail; starting for $((now - starting_since))s, longer than ${start_grace}s"
    else
        starting_since=0
    fi
    if [[ $status == draining ]]; then
        log INFO "skipped: service is draining ($detail)"
        finish "$EXIT_SKIPPED"
    fi

    failures=$((failures + 1))
    log WARN "unhealthy: $detail; failure $failures of $threshold"
    ((failures >= threshold)) || finish "$EXIT_UNHEALTHY"
    if ((last_restart > 0 && now - last_restart < cooldown)); then
        log WARN "restart due but in cooldown: last restart $((now - last_restart))s ago," \
            "cooldown ${cooldown}s"
        finish "$EXIT_COOLDOWN"
    fi
    restart_service "$now"
}

main "$@"
