#!/usr/bin/env python3
"""test_dashboard.py DAEMON - the Grafana dashboard against a real store.

Starts a private mosquitto on a free 127.0.0.1 port and the daemon binary
given as argument (playing systemd's notify socket), publishes a known data
set (four devices, two fields, 100 timestamps over the last 50 minutes, one
topic with a quote in it), and waits until every sample is stored and the
daemon wrote several ingest_stats rows. Then, while the daemon writes:

  - checks that config/grafana/sensorpipe.json is a dashboard Grafana
    imports as is (uid, schema version, panels with grid positions and
    the provisioned data source, targets as frser-sqlite-datasource stores
    them) and that the provisioning files point the plugin at the store,
    read-only;
  - expands every query as Grafana and the plugin do: Grafana's template
    service replaces variables ($__from, $__to in ms, ${__from:date:seconds},
    ${var}, ${var:sqlstring}, ...) and leaves unknown names as they are;
    the plugin's backend replaces $__from/$__to again and its two macros,
    $__timeFilter() and $__unixEpochGroupSeconds(), leaving any other
    $__name(...) untouched;
  - runs the variable queries (their values feed the panels), then every
    panel query on a read-only connection opened the way the plugin opens
    it (file:PATH?mode=ro): each runs and returns rows; the series panel
    picks 10 s, 1 m and 1 h buckets as the range grows, works for a topic
    with a quote, and its query plan searches indexes only (EXPLAIN QUERY
    PLAN: no SCAN of rollups or series); no panel scans rollups; the drops
    panel plots every drop, skip and anomaly counter of ingest_stats;
  - shows why the dashboard does not use $__unixEpochFrom(): the plugin
    leaves it in the SQL, where SQLite reads it as an unbound parameter
    (NULL) and such a query silently returns no rows.

Exits 0 when everything holds, 1 with the reason otherwise.
"""
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRAFANA = os.path.join(ROOT, "config", "grafana")
WAIT_S = 60
POINTS = 100
STEP_S = 30
DEVICES = ["sensors/lab/dev1", "sensors/lab/dev2", "sensors/roof/dev3",
           "sensors/o'neil/dev4"]
FIELDS = ["temp", "hum"]


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


# ---- Grafana's template service and the plugin's backend -----------------

# Grafana's variable syntax: $name, [[name:fmt]], ${name.path:fmt}.
VARIABLE_RE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
# The plugin's macro syntax (pkg/plugin/macros.go).
MACRO_RE = re.compile(r"\$__([_a-zA-Z0-9]+)\(([^\)]*)\)")


def format_value(value, fmt):
    if fmt in (None, "raw"):
        return value
    if fmt == "sqlstring":
        return "'" + value.replace("'", "''") + "'"
    if fmt == "singlequote":
        return "'" + value.replace("'", "\\'") + "'"
    if fmt == "doublequote":
        return '"' + value.replace('"', '\\"') + '"'
    raise Failure("variable format %r is not emulated" % fmt)


def template_replace(sql, tr, variables):
    """Grafana's templateSrv.replace() for the names a dashboard uses."""
    def one(m):
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name in ("__from", "__to"):
            ms = tr[0] if name == "__from" else tr[1]
            if fmt is None:
                return str(ms)
            if fmt == "date:seconds":
                return str(ms // 1000)
            raise Failure("format %r of $%s is not emulated" % (fmt, name))
        if name == "__range_s":
            return str((tr[1] - tr[0]) // 1000)
        if name in variables:
            return format_value(variables[name], fmt)
        return m.group(0)  # unknown: Grafana leaves it as written
    return VARIABLE_RE.sub(one, sql)


def plugin_expand(sql, tr):
    """The backend: replaceVariables() then applyMacros()."""
    sql = sql.replace("$__from", str(tr[0])).replace("$__to", str(tr[1]))

    def one(m):
        name, args = m.group(1), [a for a in m.group(2).split(",")]
        if name == "timeFilter":
            return ("CAST(CASE WHEN typeof(%s) = 'integer' THEN %s ELSE "
                    "strftime(\"%%s\", %s) END AS INTEGER) BETWEEN %d AND %d"
                    % (args[0], args[0], args[0], tr[0] // 1000, tr[1] // 1000))
        if name == "unixEpochGroupSeconds":
            n = int(args[1].strip())
            return "cast((%s / %d) as int) * %d" % (args[0], n, n)
        return m.group(0)
    return MACRO_RE.sub(one, sql)


def expand(sql, tr, variables):
    return plugin_expand(template_replace(sql, tr, variables), tr)


# ---- broker and daemon ---------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, cond, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        check(time.monotonic() < deadline, "timed out waiting for " + what)
        time.sleep(0.05)


class Run:
    def __init__(self, daemon):
        self.daemon = daemon
        self.dir = tempfile.mkdtemp(prefix="sp-grafana-")
        self.db = os.path.join(self.dir, "sp.db")
        self.port = free_port()
        self.broker = None
        self.proc = None
        self.notes = ""
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_path = os.path.join(self.dir, "notify")
        self.notify.bind(self.notify_path)
        self.notify.setblocking(False)

    def start_broker(self):
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\n"
                    % self.port)
        self.broker = subprocess.Popen(
            ["mosquitto", "-c", conf],
            stdout=subprocess.DEVNULL, stderr=open(conf + ".log", "w"))

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                return False
        wait_for("the broker", up)

    def note(self, needle):
        while True:
            try:
                self.notes += self.notify.recv(4096).decode() + "\n"
            except BlockingIOError:
                break
        return needle in self.notes

    def start_daemon(self):
        conf = os.path.join(self.dir, "sp.conf")
        with open(conf, "w") as f:
            f.write("[mqtt]\nhost = 127.0.0.1\nport = %d\n"
                    "client_id = sp-grafana-%d\n"
                    "[subscription s]\ntopic = sensors/#\nqos = 1\n"
                    "format = json\ntimestamp_field = ts\n"
                    "topic_tags = sensors/{site}/{device}/#\n"
                    "[pipeline]\nworkers = 2\nring_bytes = 1MiB\n"
                    "max_series = 1000\n"
                    "[store]\npath = %s\ncommit_interval_ms = 100ms\n"
                    "[log]\nstats_interval_s = 1s\n"
                    % (self.port, os.getpid(), self.db))
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        env.pop("JOURNAL_STREAM", None)
        self.log = os.path.join(self.dir, "sp.log")
        self.proc = subprocess.Popen([self.daemon, "-c", conf], env=env,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "w"))
        wait_for("READY=1", lambda: self.note("READY=1"))
        wait_for("the subscription", lambda: self.note("subscribed"))

    def publish(self, now):
        for d, topic in enumerate(DEVICES):
            lines = []
            for i in range(POINTS):
                ts = now - 3000 + i * STEP_S
                lines.append('{"ts":%d,"temp":%.1f,"hum":%d}'
                             % (ts, 20 + d + (i % 7) * 0.5, 40 + i % 10))
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p",
                            str(self.port), "-q", "1", "-t", topic, "-l"],
                           input="\n".join(lines) + "\n", text=True,
                           check=True)

    def stop(self):
        rc = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(WAIT_S)
        if self.broker is not None:
            self.broker.terminate()
            self.broker.wait(WAIT_S)
        return rc


def ro_connect(path):
    """As the plugin opens it: pathPrefix file:, pathOptions mode=ro."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    db.execute("PRAGMA busy_timeout = 5000")
    return db


def scalar(path, sql):
    db = ro_connect(path)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


# ---- the dashboard and the provisioning files ----------------------------

def load_dashboard():
    with open(os.path.join(GRAFANA, "sensorpipe.json")) as f:
        dash = json.load(f)
    for key in ("uid", "title", "panels", "templating", "schemaVersion",
                "time"):
        check(key in dash, "dashboard lacks %r" % key)
    check("id" not in dash or dash["id"] is None,
          "a dashboard to import carries no database id")
    ids = [p["id"] for p in dash["panels"]]
    check(len(ids) == len(set(ids)), "panel ids repeat")
    for p in dash["panels"]:
        check(p.get("type") in ("timeseries", "table", "stat", "bargauge"),
              "panel %s has type %r" % (p["id"], p.get("type")))
        for k in ("h", "w", "x", "y"):
            check(k in p.get("gridPos", {}), "panel %s lacks gridPos.%s"
                  % (p["id"], k))
        check(p["datasource"]["uid"] == "sensorpipe",
              "panel %s does not use the provisioned data source" % p["id"])
        for t in p["targets"]:
            check(t["queryText"] == t["rawQueryText"],
                  "panel %s: queryText differs from rawQueryText" % p["id"])
            check(t["queryType"] in ("table", "time series"),
                  "panel %s: queryType %r" % (p["id"], t["queryType"]))
            check(isinstance(t.get("timeColumns"), list),
                  "panel %s: timeColumns" % p["id"])
            check("$__unixEpoch" not in t["rawQueryText"],
                  "panel %s uses a macro the plugin does not expand"
                  % p["id"])
            check("$__to" in t["rawQueryText"],
                  "panel %s ignores the time range" % p["id"])
    return dash


def check_provisioning():
    with open(os.path.join(GRAFANA, "sensorpipe-datasource.yaml")) as f:
        ds = f.read()
    for needle in ("type: frser-sqlite-datasource", "uid: sensorpipe",
                   "path: /var/lib/sensorpipe/sensorpipe.db",
                   "pathPrefix: \"file:\"", "pathOptions: \"mode=ro\""):
        check(needle in ds, "datasource provisioning lacks %r" % needle)
    with open(os.path.join(GRAFANA, "sensorpipe-dashboards.yaml")) as f:
        dp = f.read()
    check("type: file" in dp and "path: /usr/share/sensorpipe/grafana" in dp,
          "dashboard provisioning does not name the shipped folder")
    try:
        import yaml
    except ImportError:
        return
    for doc in (ds, dp):
        check(yaml.safe_load(doc)["apiVersion"] == 1, "provisioning apiVersion")


# ---- the checks ----------------------------------------------------------

def plan_of(db, sql):
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)]


def scans_table(plan, names):
    """Plan lines that read a whole table (SCAN without an index)."""
    bad = []
    for line in plan:
        m = re.match(r"SCAN (\w+)(.*)", line)
        if m and m.group(1) in names and "INDEX" not in m.group(2):
            bad.append(line)
    return bad


def run_variables(db, dash, tr):
    variables = {}
    for v in dash["templating"]["list"]:
        if v["type"] == "textbox":
            variables[v["name"]] = v["query"]
            continue
        sql = expand(v["query"], tr, variables)
        rows = db.execute(sql).fetchall()
        check(rows and len(rows[0]) == 1,
              "variable %s: the plugin needs one column, rows: %r"
              % (v["name"], rows[:3]))
        variables[v["name"]] = rows[0][0]
    return variables


def run_panels(db, dash, tr, variables):
    results = {}
    for p in dash["panels"]:
        for t in p["targets"]:
            sql = expand(t["rawQueryText"], tr, variables)
            check("$" not in sql.replace("'$", ""),
                  "panel %s: something was left unexpanded:\n%s"
                  % (p["id"], sql))
            try:
                rows = db.execute(sql).fetchall()
            except sqlite3.Error as e:
                raise Failure("panel %s (%s): %s\n%s"
                              % (p["id"], p["title"], e, sql))
            check(rows, "panel %s (%s) returned no rows" % (p["id"], p["title"]))
            plan = plan_of(db, sql)
            check(not scans_table(plan, ("rollups", "r")),
                  "panel %s scans rollups: %s" % (p["id"], plan))
            results[p["id"]] = (sql, rows, plan)
    return results


def check_drops_panel(db, dash, tr, variables):
    """The drops panel plots every counter of ingest_stats that counts a
    drop, a skip, a refused line or an anomaly: one the schema gains and the
    panel forgets fails here."""
    cols = [r[1] for r in db.execute("PRAGMA table_info(ingest_stats)")]
    want = [c for c in cols
            if c.startswith(("dropped_", "skipped_")) or c in (
                "invalid_lines", "tag_conflicts", "late", "clock_skew")]
    check(len(want) >= 11, "ingest_stats columns: %r" % cols)
    panel = [p for p in dash["panels"] if p["title"] == "Drops and anomalies"]
    check(len(panel) == 1, "no Drops and anomalies panel")
    sql = expand(panel[0]["targets"][0]["rawQueryText"], tr, variables)
    got = [d[0] for d in db.execute(sql).description]
    missing = [c for c in want if c not in got]
    check(not missing, "the drops panel leaves out %s" % ", ".join(missing))


def series_panel(dash):
    return [p for p in dash["panels"] if p["type"] == "timeseries"][0]


def check_series_panel(db, dash, now_ms, variables):
    p = series_panel(dash)
    raw = p["targets"][0]["rawQueryText"]
    spans = {}
    for name, range_ms in (("1h", 3600000), ("2d", 2 * 86400000),
                           ("30d", 30 * 86400000)):
        tr = (now_ms - range_ms, now_ms)
        sql = expand(raw, tr, variables)
        rows = db.execute(sql).fetchall()
        check(rows, "series panel, %s range: no rows" % name)
        times = [r[0] for r in rows]
        steps = {b - a for a, b in zip(times, times[1:])}
        spans[name] = (len(rows), min(steps) if steps else None, times)
        for r in rows:
            check(r[2] <= r[1] <= r[3], "mean outside min/max: %r" % (r,))
        plan = plan_of(db, sql)
        bad = scans_table(plan, ("rollups", "r", "series", "s"))
        check(not bad, "series panel plan scans: %s" % plan)
        # The key is the table (WITHOUT ROWID, files before schema 8) or
        # its automatic index (schema 8).
        check(any(("USING PRIMARY KEY" in line or
                   "USING INDEX sqlite_autoindex_rollups_1" in line) and
                  "bucket_ms" in line for line in plan),
              "series panel does not search rollups by its key: %s" % plan)
    check(spans["1h"][1] == 10 or spans["1h"][1] == STEP_S // 10 * 10,
          "1 h range: points %s s apart" % spans["1h"][1])
    check(all(t % 10 == 0 for t in spans["1h"][2]), "1 h range: 10 s buckets")
    check(all(t % 60 == 0 for t in spans["2d"][2]) and
          not all(t % 3600 == 0 for t in spans["2d"][2]),
          "2 d range: not 1 min buckets: %r" % spans["2d"][2][:5])
    check(all(t % 3600 == 0 for t in spans["30d"][2]),
          "30 d range: not 1 h buckets: %r" % spans["30d"][2])
    check(spans["1h"][0] > spans["2d"][0] > spans["30d"][0],
          "points do not fall as the range grows: %r"
          % {k: v[0] for k, v in spans.items()})
    return plan


def check_quoted_topic(db, dash, tr, variables):
    v = dict(variables, topic="sensors/o'neil/dev4", field="temp")
    sql = expand(series_panel(dash)["targets"][0]["rawQueryText"], tr, v)
    rows = db.execute(sql).fetchall()
    check(rows, "a topic with a quote gives no rows")


def check_unix_epoch_macro_is_not_expanded(db, tr):
    sql = ("SELECT time, mean FROM rollups_v WHERE time BETWEEN "
           "$__unixEpochFrom() AND $__unixEpochTo()")
    expanded = expand(sql, tr, {})
    check("$__unixEpochFrom()" in expanded,
          "the plugin would expand $__unixEpochFrom() after all")
    # SQLite parses "$__unixEpochFrom()" as a named parameter: unbound, it
    # is NULL (drivers that check the count refuse the query instead).
    unbound = {"__unixEpochFrom()": None, "__unixEpochTo()": None}
    check(db.execute(expanded, unbound).fetchall() == [],
          "an unbound $__unixEpochFrom() parameter returned rows")
    check(db.execute("SELECT count(*) FROM rollups_v WHERE time BETWEEN %d "
                     "AND %d" % (tr[0] // 1000, tr[1] // 1000)).fetchone()[0],
          "the store holds no rows in the range")


def main():
    if len(sys.argv) != 2:
        print("usage: test_dashboard.py DAEMON", file=sys.stderr)
        return 2
    daemon = os.path.abspath(sys.argv[1])
    try:
        dash = load_dashboard()
        check_provisioning()
    except Failure as e:
        print("test_dashboard: FAIL: %s" % e, file=sys.stderr)
        return 1
    run = Run(daemon)
    try:
        run.start_broker()
        run.start_daemon()
        now = int(time.time())
        run.publish(now)
        want = len(DEVICES) * len(FIELDS) * POINTS
        wait_for("%d stored samples" % want, lambda: scalar(
            run.db, "SELECT coalesce(sum(count), 0) FROM rollups "
            "WHERE resolution_s = 10") == want)
        # Panels merge ingest_stats rows into points of range / 1000: over
        # the hour they run on, rows 8 s apart fall in different points.
        wait_for("ingest_stats rows over 8 s", lambda: scalar(
            run.db, "SELECT coalesce(max(ts_ms) - min(ts_ms), 0) "
            "FROM ingest_stats")
            >= 8000)
        now_ms = int(time.time() * 1000)
        tr = (now_ms - 3600000, now_ms)
        db = ro_connect(run.db)
        variables = run_variables(db, dash, tr)
        check(variables["topic"] in DEVICES, "topic variable: %r"
              % variables["topic"])
        results = run_panels(db, dash, tr, variables)
        check_drops_panel(db, dash, tr, variables)
        plan = check_series_panel(db, dash, now_ms, variables)
        check_quoted_topic(db, dash, tr, variables)
        check_unix_epoch_macro_is_not_expanded(db, tr)
        db.close()
        rc = run.stop()
        check(rc == 0, "the daemon exited %r" % rc)
    except Failure as e:
        print("test_dashboard: FAIL: %s" % e, file=sys.stderr)
        if os.path.exists(os.path.join(run.dir, "sp.log")):
            with open(os.path.join(run.dir, "sp.log")) as f:
                sys.stderr.write(f.read()[-3000:])
        run.stop()
        return 1
    finally:
        subprocess.run(["rm", "-rf", run.dir])
    print("test_dashboard: %d panels and %d variables ran on a live store; "
          "series panel plan: %s" % (len(results),
                                     len(dash["templating"]["list"]),
                                     " | ".join(plan)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
