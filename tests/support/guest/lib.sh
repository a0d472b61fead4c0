# Helpers for pyaoe guest scripts (sourced by /init; run.sh sources it again to use them).
# Results go to the serial console as "@@pyaoe NAME VALUE" lines, which the host parses.

mark() {
    name=$1
    shift
    echo "@@pyaoe $name $*"
}

# Hundredths of a second since boot.
uptime_cs() {
    read -r up _ </proc/uptime
    echo "${up%.*}${up#*.}"
}

carrier_up() {
    [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = 1 ]
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds or the time is up.
wait_for() {
    limit=$(( $(uptime_cs) + $1 * 100 ))
    shift
    until "$@"; do
        [ "$(uptime_cs)" -lt "$limit" ] || return 1
        usleep 100000
    done
}

# must NAME COMMAND...: run COMMAND; on failure report step NAME and end the script with its status.
must() {
    name=$1
    shift
    if "$@"; then
        return 0
    else
        rc=$?
        mark failed "$name" "$rc"
        exit "$rc"
    fi
}

# run_within SECS COMMAND...: run COMMAND, waiting at most SECS seconds: its exit status, or 124
# if it is still running then. (I/O stuck in the kernel cannot be killed: it is left behind.)
run_within() {
    limit=$(($(uptime_cs) + $1 * 100))
    shift
    "$@" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$(uptime_cs)" -ge "$limit" ]; then
            echo "still running after its deadline: $*" >&2
            return 124
        fi
        usleep 50000
    done
    wait "$pid"
}

# must_within SECS NAME COMMAND...: like must, but a command still running after SECS fails too.
must_within() {
    secs=$1
    name=$2
    shift 2
    if run_within "$secs" "$@"; then
        return 0
    else
        rc=$?
        mark failed "$name" "$rc"
        exit "$rc"
    fi
}
