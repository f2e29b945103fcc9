#!/bin/sh
# A Docker engine for the container checks, run the only way this project runs one: dockerd
# with no bridge and no iptables rules, so that containers and builds use the host's network.
#
#   deploy/docker/dockerd.sh start   # 0 once an engine answers: one already running, or one
#                                    # started here (installed first from Debian when missing,
#                                    # as root); 1 when none can be had
#   deploy/docker/dockerd.sh stop    # stops the engine `start` started, and nothing else
set -eu

state=${KEYMINT_DOCKERD_DIR:-/tmp/keymint-dockerd}
answers() { docker version --format '{{ .Server.Version }}' >/dev/null 2>&1; }
root() { [ "$(id -u)" = 0 ]; }

case "${1:-}" in
start)
    if answers; then
        echo "docker: engine $(docker version --format '{{ .Server.Version }}') already running"
        exit 0
    fi
    missing=""
    for tool in dockerd docker docker-compose debootstrap; do
        command -v "$tool" >/dev/null || missing="$missing $tool"
    done
    if [ -n "$missing" ]; then
        if ! root; then
            echo "docker: missing:$missing; installing Debian's docker.io, docker-compose and" \
                "debootstrap needs root" >&2
            exit 1
        fi
        echo "docker: installing Debian's docker.io, docker-compose and debootstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
    fi
    if ! root; then
        echo "docker: no engine is running, and starting dockerd needs root" >&2
        exit 1
    fi
    mkdir -p "$state"
    dockerd --bridge=none --iptables=false --ip-masq=false >"$state/dockerd.log" 2>&1 &
    echo $! >"$state/pid"
    tries=0
    until answers; do
        tries=$((tries + 1))
        if [ "$tries" -gt 120 ] || ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
            echo "docker: dockerd did not come up; its log:" >&2
            tail -20 "$state/dockerd.log" >&2
            rm -f "$state/pid"
            exit 1
        fi
        sleep 0.5
    done
    echo "docker: started dockerd $(docker version --format '{{ .Server.Version }}')" \
        "(pid $(cat "$state/pid"), --bridge=none --iptables=false; log $state/dockerd.log)"
    ;;
stop)
    [ -f "$state/pid" ] || exit 0
    pid=$(cat "$state/pid")
    rm -f "$state/pid"
    kill -TERM "$pid" 2>/dev/null || exit 0
    tries=0
    while kill -0 "$pid" 2>/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -le 60 ] || { kill -KILL "$pid" 2>/dev/null || true; break; }
        sleep 0.5
    done
    echo "docker: stopped the dockerd started for this run (pid $pid)"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
