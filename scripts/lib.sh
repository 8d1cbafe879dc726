# lib.sh - helpers the scripts share; source it (POSIX sh, bash too).
#
#   sp_broker_conf FILE PORT [PERSIST_DIR [LOG_FILE]]
#       writes a private mosquitto configuration: a listener on
#       127.0.0.1:PORT, anonymous clients, and the queue and in-flight
#       limits lifted. With overflow = pause the daemon's backlog waits in
#       the broker, and Mosquitto's default of 1000 queued messages per
#       client would drop the rest. PERSIST_DIR (empty: none) turns
#       persistence on there; LOG_FILE (empty: no log) keeps the broker's
#       log, subscriptions included.
#   sp_free_port       prints a free TCP port on 127.0.0.1
#   sp_port_open PORT  true when something accepts on 127.0.0.1:PORT
#   sp_wait_port PORT  waits up to 5 s for sp_port_open PORT
#   sp_logged LOG CMD...  runs CMD with its output in LOG; its exit status
#   sp_tail LOG        prints the last lines of a failed step's LOG

sp_broker_conf() {
    {
        echo "listener $2 127.0.0.1"
        echo "allow_anonymous true"
        echo "max_queued_messages 0"
        echo "max_queued_bytes 0"
        echo "max_inflight_messages 0"
        echo "max_inflight_bytes 0"
        if [ -n "${3:-}" ]; then
            echo "persistence true"
            echo "persistence_location $3/"
        else
            echo "persistence false"
        fi
        if [ -n "${4:-}" ]; then
            echo "log_dest file $4"
            for t in error warning notice information subscribe; do
                echo "log_type $t"
            done
        else
            echo "log_dest none"
        fi
        # mosquitto refuses to run as root without this line.
        [ "$(id -u)" -ne 0 ] || echo "user root"
    } >"$1"
}

sp_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

sp_port_open() {
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2)' \
        "$1" 2>/dev/null
}

sp_wait_port() {
    _sp_i=0
    while [ "$_sp_i" -lt 100 ]; do
        sp_port_open "$1" && return 0
        sleep 0.05
        _sp_i=$((_sp_i + 1))
    done
    return 1
}

sp_logged() {
    _sp_log=$1
    shift
    mkdir -p "$(dirname "$_sp_log")"
    "$@" >"$_sp_log" 2>&1
}

SP_TAIL_LINES=${SP_TAIL_LINES:-40}
sp_tail() {
    echo "---- last $SP_TAIL_LINES lines of $1 ----"
    tail -n "$SP_TAIL_LINES" "$1"
    echo "----"
}
