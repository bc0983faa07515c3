#!/usr/bin/env bash
# Rotates tiktok-analyzer's logs with its own logrotate state file (the 02:00 cron job).
set -euo pipefail

# shellcheck source=scripts/ops_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ops_lib.sh"

usage() {
    cat <<EOF2
usage: $(basename "$0") [-f|--force] [-v|--verbose] [-d|--debug] [--config FILE]
                      [--state FILE] [--log-dir DIR]

Runs logrotate on <log_dir>/*.log and *.jsonl with a private state file, so the system's
own daily logrotate never rotates the same files.

  --config FILE  logrotate configuration [default /etc/tiktok-analyzer/logrotate.conf if it
                 exists, else deploy/logrotate/tiktok-analyzer with @LOG_DIR@, @USER@ and
                 @GROUP@ filled in from --log-dir and the owner of that directory]
  --state FILE   logrotate state file [default <data_dir>/logrotate.state]
  --log-dir DIR  log directory [TIKTOK_ANALYZER_LOG_DIR, default logs/ of the checkout]
  -f, --force    rotate now even if not due
  -v, --verbose  logrotate -v
  -d, --debug    logrotate -d: show what would happen, change nothing
Exit code: logrotate's (0 on success).
EOF2
}

main() {
    local config="" state="" log_dir="" owner group rendered="" rc=0
    local -a flags=()
    while (($#)); do
        case $1 in
            --config) config=${2:?} && shift ;;
            --state) state=$(realpath -m "${2:?}") && shift ;;
            --log-dir) log_dir=$(realpath -m "${2:?}") && shift ;;
            -f | --force) flags+=(--force) ;;
            -v | --verbose) flags+=(--verbose) ;;
            -d | --debug) flags+=(--debug) ;;
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
    log_dir=$(ops_abspath "${log_dir:-$(ops_log_dir)}")
    state=${state:-$(ops_data_dir)/logrotate.state}
    mkdir -p "$(dirname "$state")"
    if [[ -z $config && -r /etc/tiktok-analyzer/logrotate.conf ]]; then
        config=/etc/tiktok-analyzer/logrotate.conf
    fi
    if [[ -z $config ]]; then
        [[ -d $log_dir ]] || {
            echo "rotate_logs: no log directory $log_dir; nothing to rotate"
            exit 0
        }
        owner=$(stat -c %U "$log_dir")
        group=$(stat -c %G "$log_dir")
        rendered=$(mktemp)
        trap 'rm -f "$rendered"' EXIT
        sed -e "s|@LOG_DIR@|$log_dir|g" -e "s|@USER@|$owner|g" -e "s|@GROUP@|$group|g" \
            "$OPS_ROOT/deploy/logrotate/tiktok-analyzer" >"$rendered"
        config=$rendered
    fi
    logrotate "${flags[@]}" --state "$state" "$config" || rc=$?
    echo "$(ops_timestamp) rotate_logs: logrotate --state $state $config exited $rc"
    exit "$rc"
}

main "$@"
