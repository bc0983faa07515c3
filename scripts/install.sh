#!/usr/bin/env bash
# Installs tiktok-analyzer on a server: code under the prefix, virtualenv, service user,
# systemd unit, cron jobs, logrotate configuration and env file. Safe to run again.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UNIT=tiktok-analyzer

usage() {
    cat <<EOF
usage: $(basename "$0") [--prefix DIR] [--user NAME] [--group NAME] [--root DIR]
                  [--venv DIR] [--skip-venv] [--python PY] [--torch SPEC] [--dry-run]

Installs (or updates) tiktok-analyzer. Run it as root. Every step is idempotent: a second
run reports "unchanged" and changes nothing; an existing env file is never overwritten.

  --prefix DIR   where the service lives [/opt/tiktok-analyzer]; code, .venv, data/, logs/,
                 backups/. Not under /home or /root (the unit uses ProtectHome=yes).
  --user NAME    service user, created as a system user if missing [tiktok-analyzer]
  --group NAME   its group [same as the user]
  --root DIR     install under DIR instead of / (tests, packaging): no user is created,
                 nothing is chowned, no virtualenv is built, systemd is not reloaded
  --venv DIR     use this existing virtualenv instead of building <prefix>/.venv
  --skip-venv    do not build or update the virtualenv
  --python PY    interpreter the virtualenv is built from [python3]
  --torch SPEC   the torch requirement pip installs first [\$TORCH_SPEC, or torch]: plain
                 "torch" takes PyPI's CUDA build for a GPU server; "torch==2.13.0" with a
                 CPU wheel in pip's find-links gives a CPU-only box
  --dry-run      print what would change, change nothing
  -h, --help

The virtualenv gets the project's declared dependencies and nothing else (no dev or test
extras), from pip's usual configuration: PIP_INDEX_URL, PIP_FIND_LINKS and PIP_NO_INDEX
point it at a mirror or a wheel folder. It is rebuilt when pyproject.toml changes, so an
upgrade picks up new dependencies.

Installs: <prefix>/ (api analyzers monitoring scripts deploy docs pyproject.toml README.md),
/etc/systemd/system/$UNIT.service, /etc/cron.d/$UNIT, /etc/tiktok-analyzer/env and
/etc/tiktok-analyzer/logrotate.conf (deliberately not /etc/logrotate.d, see that file).
EOF
}

prefix=/opt/tiktok-analyzer user=tiktok-analyzer group="" root="" venv="" skip_venv=""
python=python3 torch_spec=${TORCH_SPEC:-torch} dry_run="" changes=0

say() { printf '%s\n' "$*"; }
act() {
    changes=$((changes + 1))
    if [[ -n $dry_run ]]; then
        say "would: $*"
        return 1
    fi
    say "$*"
}

# Replace the placeholders the deploy/ files carry.
render() {
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@VENV@|$venv|g" -e "s|@USER@|$user|g" \
        -e "s|@GROUP@|$group|g" -e "s|@LOG_DIR@|$prefix/logs|g" "$1"
}

# Install content (from stdin) at dest with mode, only when content or mode differ.
put() {
    local dest=$1 mode=$2 tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [[ -f $dest ]] && cmp -s "$tmp" "$dest" && [[ $(stat -c %a "$dest") == "${mode#0}" ]]; then
        say "unchanged: $dest"
    elif act "install: $dest (mode $mode)"; then
        install -D -m "$mode" "$tmp" "$dest"
    fi
    rm -f "$tmp"
}

# Install a deploy/ template rendered. Rendered into a file first, not through a process
# substitution whose exit status nobody checks: a missing or unreadable template stops the
# install instead of installing an empty file. put reads a redirection, not a pipe, so it runs
# in this shell and its change count (which decides the daemon-reload) is kept.
put_rendered() {
    local dest=$1 mode=$2 template=$3 tmp
    tmp=$(mktemp)
    if ! render "$template" >"$tmp"; then
        rm -f "$tmp"
        echo "install.sh: cannot render $template" >&2
        exit 1
    fi
    put "$dest" "$mode" <"$tmp"
    rm -f "$tmp"
}

ensure_dir() {
    local dir=$1 mode=$2 owner=${3:-}
    if [[ ! -d $dir ]]; then
        act "mkdir: $dir (mode $mode)" && install -d -m "$mode" "$dir"
    fi
    if [[ -n $owner && -d $dir && $(stat -c %U:%G "$dir") != "$owner" ]]; then
        act "chown: $dir to $owner" && chown "$owner" "$dir"
    fi
    return 0
}

copy_code() {
    local dest=$1 rel mode
    if [[ $(realpath -m "$dest") == "$SRC" ]]; then
        say "unchanged: code is used in place at $SRC"
        return 0
    fi
    while IFS= read -r -d '' rel; do
        rel=${rel#./}
        mode=644
        [[ -x $SRC/$rel ]] && mode=755
        put "$dest/$rel" "$mode" <"$SRC/$rel"
    done < <(cd "$SRC" && find api analyzers monitoring scripts deploy docs pyproject.toml \
        README.md -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 2>/dev/null | sort -z)
}

ensure_user() {
    if [[ -n $root ]]; then
        say "skipped: service user $user (not created under --root)"
        return 0
    fi
    if ! getent group "$group" >/dev/null; then
        act "groupadd --system $group" && groupadd --system "$group"
    fi
    if getent passwd "$user" >/dev/null; then
        say "unchanged: user $user"
    elif act "useradd --system $user (home $prefix, no login)"; then
        useradd --system --gid "$group" --home-dir "$prefix" --no-create-home \
            --shell /usr/sbin/nologin "$user"
    fi
}

ensure_venv() {
    local dir=$1 stamp want
    if [[ -n $skip_venv || -n $root ]]; then
        say "skipped: virtualenv $dir${root:+ (a virtualenv is tied to its path: build it on the target)}"
        return 0
    fi
    if [[ ! -x $dir/bin/python ]]; then
        act "create virtualenv: $dir" && "$python" -m venv "$dir"
    fi
    # Reinstall only when the dependencies change; the code itself is installed editable.
    stamp=$dir/.tiktok-analyzer-installed
    want="$(sha256sum "$prefix/pyproject.toml" | cut -d' ' -f1) $prefix $torch_spec"
    if [[ -r $stamp && $(<"$stamp") == "$want" ]]; then
        say "unchanged: virtualenv $dir"
    elif act "pip install -e $prefix into $dir"; then
        "$dir/bin/python" -m pip install --quiet --upgrade pip
        # torch first, as asked: left to the project's range, pip would pick the CUDA build
        "$dir/bin/python" -m pip install --quiet "$torch_spec"
        "$dir/bin/python" -m pip install --quiet -e "$prefix"
        printf '%s\n' "$want" >"$stamp"
    fi
}

env_template() {
    cat <<'EOF'
# Settings of the tiktok-analyzer service (read by systemd's EnvironmentFile= and by the
# scripts under scripts/). Never overwritten by install.sh. See README "Configuration".
#TIKTOK_ANALYZER_HOST=127.0.0.1
#TIKTOK_ANALYZER_PORT=8003
# More Host names to answer (the bind address and localhost always are), e.g. with HOST=0.0.0.0
#TIKTOK_ANALYZER_ALLOWED_HOSTS=analyzer.example.lan
#TIKTOK_ANALYZER_MODEL=Salesforce/blip2-opt-2.7b
#TIKTOK_ANALYZER_QUANTIZATION=int8
#TIKTOK_ANALYZER_WORKERS_PER_GPU=1
#TIKTOK_ANALYZER_API_KEY=change-me
#TIKTOK_ANALYZER_DRAIN_TIMEOUT_S=60
# health_check.sh: failures before a restart, and the minimum time between restarts
#TIKTOK_ANALYZER_HEALTH_FAILURES=3
#TIKTOK_ANALYZER_HEALTH_COOLDOWN_S=1800
EOF
}

parse_args() {
    while (($#)); do
        case $1 in
            --prefix) prefix=${2:?} && shift ;;
            --user) user=${2:?} && shift ;;
            --group) group=${2:?} && shift ;;
            --root) root=$(realpath -m "${2:?}") && shift ;;
            --venv) venv=${2:?} && shift ;;
            --skip-venv) skip_venv=1 ;;
            --python) python=${2:?} && shift ;;
            --torch) torch_spec=${2:?} && shift ;;
            --dry-run) dry_run=1 ;;
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
    group=${group:-$user}
    [[ $prefix == /* ]] || {
        echo "install.sh: --prefix must be absolute" >&2
        exit 64
    }
    case $prefix in
        /home | /home/* | /root | /root/* | /run/user/*)
            echo "install.sh: --prefix $prefix is hidden from the service by ProtectHome=yes" >&2
            exit 64
            ;;
    esac
    if [[ -n $venv ]]; then
        skip_venv=1
    else
        venv=$prefix/.venv
    fi
}

main() {
    local owner="" etc unit_dest before
    parse_args "$@"
    if [[ -z $root && -z $dry_run && $(id -u) != 0 ]]; then
        echo "install.sh: run as root (or use --root DIR / --dry-run)" >&2
        exit 1
    fi
    [[ -z $root ]] && owner=$user:$group
    etc=$root/etc
    unit_dest=$etc/systemd/system/$UNIT.service

    ensure_user
    ensure_dir "$root$prefix" 755
    copy_code "$root$prefix"
    for d in data logs backups; do
        ensure_dir "$root$prefix/$d" 750 "$owner"
    done
    ensure_venv "$venv"

    before=$changes
    put_rendered "$unit_dest" 644 "$SRC/deploy/systemd/$UNIT.service"
    local unit_changed=$((changes - before))
    put_rendered "$etc/cron.d/$UNIT" 644 "$SRC/deploy/cron/$UNIT"
    put_rendered "$etc/tiktok-analyzer/logrotate.conf" 644 "$SRC/deploy/logrotate/$UNIT"
    if [[ -e $etc/tiktok-analyzer/env ]]; then
        say "unchanged: $etc/tiktok-analyzer/env (kept as it is)"
    else
        put "$etc/tiktok-analyzer/env" 640 < <(env_template)
        # Readable by the service user (through its group), not by everyone: it may hold the API key.
        [[ -z $owner || -n $dry_run ]] || chgrp "$group" "$etc/tiktok-analyzer/env"
    fi

    if ((unit_changed > 0)) && [[ -z $root && -z $dry_run && -d /run/systemd/system ]]; then
        say "systemctl daemon-reload"
        systemctl daemon-reload
    fi
    if ((changes == 0)); then
        say "nothing to do: everything is installed and up to date"
    elif [[ -n $dry_run ]]; then
        say "dry run: $changes change(s) would be made"
    else
        say "done: $changes change(s)."
        [[ -n $root ]] || say "Next: edit /etc/tiktok-analyzer/env, then: systemctl enable --now $UNIT"
    fi
}

main "$@"
