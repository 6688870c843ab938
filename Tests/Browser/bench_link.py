#!/usr/bin/env python3
"""Camera-to-panel latency, frame rate and freezes over an impaired link, `ctlive web` against a plain
WebRTC pair on the same link in the same run. Runs as root (network namespaces).

  sudo python3 Tests/Browser/bench_link.py [--ctlive .build/release/ctlive] [--profiles clean,40ms-1%,40ms-3%,2mbit,1mbit]
                                           [--systems webrtc,websocket,pair] [--seconds 20] [--json FILE]

Systems: `webrtc` is ctlive's pages over WebRTC (Janus in the server namespace, `ctlive web --janus`),
`websocket` the same pages forced onto the WebSocket fallback (`media=websocket`), `pair` the baseline.

The link: two network namespaces, "client" (10.77.0.1) and "server" (10.77.0.2), each with a veth whose
peer stays in the root namespace, where linkemu (/work/shared/tools/linkemu.c, built here with gcc; a
user-space netem: this kernel has no sch_netem) joins the two peers and applies the profile's delay,
jitter, loss and rate in both directions.

The server namespace runs `ctlive hub`, `ctlive web` (on 10.77.0.2, with a token secret: off loopback it
admits only tokens) and a headless Chromium with the agent page; the client namespace a headless Chromium
with the customer page, so each camera crosses the link one way and comes back the other. Then the
baseline: link/pair.html in both, one RTCPeerConnection (host candidates), signaling through
link/pairserver.py in the server namespace.

Measured visually, so it does not depend on the transport: link/barcode.js (injected before the page's
scripts) turns getUserMedia's camera into a 640x360 canvas whose every frame carries Date.now() as a
barcode with a CRC, and reads the receiving page's picture canvas (ctlive's `.panel canvas`, the pair's
#remote) every 10 ms, finding the code by its sync bars. Latency is the reader's Date.now() minus the
stamp (both namespaces share the clock): painting, capture, encoding, the link, decoding, the page's
draw and up to 10 ms of reading. A freeze is more than 500 ms without a new picture.

Exit code 0 whatever the figures (a bench); 1 when the setup itself failed.
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browse import Chromium, Page  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LINK = os.path.join(HERE, "link")
CLIENT_IP, SERVER_IP = "10.77.0.1", "10.77.0.2"
WEB_PORT, PAIR_PORT, HUB_SIGNALING, HUB_MEDIA, JANUS_PORT = 8080, 8090, 7100, 7101, 7188
JANUS_LIBRARIES = "/usr/lib/x86_64-linux-gnu/janus"
PROFILES = {
    "clean": [],
    "40ms-1%": ["--delay-ms", "40", "--jitter-ms", "10", "--loss", "1"],
    "40ms-3%": ["--delay-ms", "40", "--jitter-ms", "10", "--loss", "3"],
    "2mbit": ["--rate-kbit", "2000"],
    "1mbit": ["--rate-kbit", "1000"],
}
CUSTOMER_ID, AGENT_ID = 1, 2
FREEZE_MS = 500
# Where a ctlive page shows the others: the canvas ctlive.js puts in the page's .panel div (#videoPanel,
# #agentPanel); a <video> there if a later ctlive.js shows the picture that way. The reader finds the code
# anywhere in it (any tile, any scale) and skips its own camera's (the self view) by the sender id.
PANEL = ".panel canvas, .panel video"


def log(text):
    print(f"[bench_link {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run(*args, check=True, quiet=False):
    result = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {result.returncode}: {result.stderr.strip() or result.stdout.strip()}")
    return result


class BenchPage(Page):
    """browse.Page with a script injected before the page's own (and a way to close it)."""

    def __init__(self, browser, name, url, script):
        self.browser, self.name = browser, name
        self.target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.call("Target.attachToTarget", {"targetId": self.target, "flatten": True})["sessionId"]
        self.call("Runtime.enable")
        self.call("Page.enable")
        self.call("Page.addScriptToEvaluateOnNewDocument", {"source": script})
        self.call("Page.navigate", {"url": url})

    def close(self):
        try:
            self.browser.call("Target.closeTarget", {"targetId": self.target}, timeout=10)
        except Exception as error:  # a crashed page, a closed browser
            log(f"closing {self.name}: {error}")


class Bench:
    def __init__(self, options):
        self.options = options
        self.tag = str(os.getpid())
        self.client_ns, self.server_ns = f"lbc{self.tag}", f"lbs{self.tag}"
        self.client_peer, self.server_peer = f"lb{self.tag}c", f"lb{self.tag}s"  # the root namespace's ends
        self.dir = tempfile.mkdtemp(prefix="bench-link-")
        self.processes = []  # (name, Popen), stopped in reverse order
        self.browsers = {}
        self.linkemu = None
        self.namespaces = []
        self.barcode = open(os.path.join(LINK, "barcode.js")).read()

    # ---- setup and teardown ----

    def build_linkemu(self):
        if self.options.linkemu:
            return self.options.linkemu
        binary = os.path.join(self.dir, "linkemu")
        run("gcc", "-O2", "-Wall", "-o", binary, self.options.linkemu_source)
        return binary

    def ns(self, namespace, *args):
        return ["ip", "netns", "exec", namespace, *args]

    def make_link(self):
        self.linkemu_binary = self.build_linkemu()
        for namespace in (self.client_ns, self.server_ns):
            run("ip", "netns", "add", namespace)
            self.namespaces.append(namespace)
            run(*self.ns(namespace, "ip", "link", "set", "lo", "up"))
        for namespace, inside, outside, address in ((self.client_ns, "c0", self.client_peer, CLIENT_IP),
                                                   (self.server_ns, "s0", self.server_peer, SERVER_IP)):
            run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", namespace)
            run(*self.ns(namespace, "ip", "addr", "add", f"{address}/24", "dev", inside))
            run(*self.ns(namespace, self.linkemu_binary, "--offload-off", inside))
            run(*self.ns(namespace, "ip", "link", "set", inside, "up"))
            run(self.linkemu_binary, "--offload-off", outside)
            # The root namespace's ends carry frames only: no addresses, no IPv6 chatter of their own.
            run("sysctl", "-q", "-w", f"net.ipv6.conf.{outside}.disable_ipv6=1", check=False)
            run("ip", "link", "set", outside, "up")

    def start_linkemu(self, profile):
        stats = os.path.join(self.dir, f"linkemu-{len(os.listdir(self.dir))}.json")
        args = [self.linkemu_binary, "--a", self.client_peer, "--b", self.server_peer, "--seed", "1", "--stats", stats,
                *PROFILES[profile]]
        if self.options.linkemu_rt:
            args += ["--rt", str(self.options.linkemu_rt)]
        errors = open(os.path.join(self.dir, "linkemu.err"), "a")
        self.linkemu = (subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=errors), stats)
        time.sleep(0.3)
        if self.linkemu[0].poll() is not None:
            raise RuntimeError(f"linkemu exited: {open(errors.name).read()[-500:]}")

    def stop_linkemu(self):
        if not self.linkemu:
            return None
        process, stats = self.linkemu
        self.linkemu = None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        try:
            with open(stats) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def ping(self, count=10):
        """ICMP echo from the client namespace to the server (link/icmpping.py: this machine has no ping(8))."""
        result = run(*self.ns(self.client_ns, sys.executable, os.path.join(LINK, "icmpping.py"), SERVER_IP, str(count), "0.1"), check=False)
        try:
            return json.loads(result.stdout)
        except ValueError:
            return {"lossPct": None, "error": result.stderr.strip()[-300:]}

    def spawn(self, name, args, ready=None, timeout=10):
        """Starts a process (stdout and stderr to files); with `ready`, waits for a regex in its stdout."""
        out_path = os.path.join(self.dir, f"{name}.out")
        out, err = open(out_path, "w"), open(os.path.join(self.dir, f"{name}.err"), "w")
        process = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.processes.append((name, process))
        if ready:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with open(out_path) as f:
                    match = re.search(ready, f.read())
                if match:
                    return process, match
                if process.poll() is not None:
                    break
                time.sleep(0.1)
            with open(err.name) as f:
                raise RuntimeError(f"{name} did not start: {f.read()[-800:]}")
        return process, None

    def stop(self, name):
        for entry in list(self.processes):
            if entry[0] == name:
                self.processes.remove(entry)
                process = entry[1]
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()

    def chromium(self, namespace):
        wrapper = os.path.join(self.dir, f"chromium-{namespace}")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\nexec ip netns exec {namespace} {self.options.chromium} "$@"\n')
        os.chmod(wrapper, 0o755)
        origins = f"http://{SERVER_IP}:{WEB_PORT},http://{SERVER_IP}:{PAIR_PORT}"
        return Chromium(wrapper, ["--disable-features=WebRtcHideLocalIpsWithMdns", f"--unsafely-treat-insecure-origin-as-secure={origins}",
                                  *self.options.chromium_arg])

    def teardown(self):
        for page in getattr(self, "open_pages", []):
            page.close()
        for browser in self.browsers.values():
            try:
                browser.close()
            except Exception as error:
                log(f"closing a browser: {error}")
        self.browsers = {}
        for name, _ in reversed(list(self.processes)):
            self.stop(name)
        self.stop_linkemu()
        for namespace in self.namespaces:
            # Anything left in our namespaces was started by this bench (a Chromium helper): end it by its pid.
            pids = run("ip", "netns", "pids", namespace, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run("ip", "netns", "del", namespace, check=False)
        self.namespaces = []
        for link in (self.client_peer, self.server_peer):
            run("ip", "link", "del", link, check=False)
        if self.options.keep:
            log(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- measuring ----

    def inject(self, sender, peer, canvas):
        config = {"id": sender, "peer": peer, "canvas": canvas, "texture": self.options.texture}
        return f"window.__linkBenchConfig = {json.dumps(config)};\n{self.barcode}"

    def measure(self, pages, ready_expressions, sent_bytes):
        """Waits until every page shows pictures, settles, then measures: {page name: reader result}.
        sent_bytes: a JavaScript expression giving the bytes of video (ctlive: and audio) a page sent so far."""
        deadline = time.monotonic() + self.options.start_timeout
        started = time.monotonic()
        waiting = dict(pages)
        while waiting and time.monotonic() < deadline:
            for name, page in list(waiting.items()):
                if (page.evaluate("window.linkBench ? window.linkBench.pictures() : 0") or 0) >= 30:
                    del waiting[name]
            time.sleep(0.25)
        if waiting:
            log(f"no pictures yet in {', '.join(waiting)} after {self.options.start_timeout:.0f} s: measuring anyway")
        startup = round(time.monotonic() - started, 1)
        time.sleep(self.options.settle)
        bytes0 = {}
        for page in pages.values():
            page.evaluate("window.linkBench && window.linkBench.reset()")
            for expression in ready_expressions.get(page.name, []):
                page.evaluate(expression)
            bytes0[page.name] = (page.evaluate(sent_bytes), time.monotonic())
        load0 = os.getloadavg()[0]
        time.sleep(self.options.seconds)
        load1 = os.getloadavg()[0]
        results = {}
        for name, page in pages.items():
            results[name] = page.evaluate("window.linkBench ? window.linkBench.result() : null") or {}
            sent, at = page.evaluate(sent_bytes), time.monotonic()
            if isinstance(sent, (int, float)) and isinstance(bytes0[name][0], (int, float)):
                results[name]["senderKbitPerSecond"] = round((sent - bytes0[name][0]) * 8 / 1000 / (at - bytes0[name][1]), 1)
            results[name]["startupSeconds"] = startup
            results[name]["loadAverage1m"] = [round(load0, 2), round(load1, 2)]
            if name in waiting:
                results[name]["neverStarted"] = True
        return results

    def janus(self):
        """Janus in the server namespace (VideoRoom, Streaming, HTTP API on its loopback), once per run."""
        if any(name == "janus" for name, _ in self.processes):
            return
        folder = os.path.join(self.dir, "janus")
        for sub, name in (("plugins", "libjanus_videoroom.so"), ("plugins", "libjanus_streaming.so"), ("transports", "libjanus_http.so")):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
            target = os.path.join(folder, sub, name)
            if not os.path.exists(target):
                os.symlink(os.path.join(JANUS_LIBRARIES, sub, name), target)
        with open(os.path.join(folder, "janus.jcfg"), "w") as f:
            f.write(f'general: {{ configs_folder = "{folder}" plugins_folder = "{folder}/plugins" transports_folder = "{folder}/transports" '
                    f'debug_level = 4 }}\nmedia: {{ rtp_port_range = "30000-30499" }}\n')
        with open(os.path.join(folder, "janus.transport.http.jcfg"), "w") as f:
            f.write(f'general: {{ json = "compact" base_path = "/janus" http = true port = {JANUS_PORT} ip = "127.0.0.1" https = false }}\n'
                    'admin: { admin_http = false }\n')
        for plugin in ("videoroom", "streaming"):
            with open(os.path.join(folder, f"janus.plugin.{plugin}.jcfg"), "w") as f:
                f.write('general: { rtp_port_range = "30500-30999" }\n' if plugin == "streaming" else "general: { }\n")
        # -i: the namespace has no default route, from which Janus would guess its address.
        self.spawn("janus", self.ns(self.server_ns, "janus", "-F", folder, "-C", os.path.join(folder, "janus.jcfg"), "-o", "-i", SERVER_IP),
                   ready=r"HTTP webserver started", timeout=15)

    def run_ctlive(self, profile, media):
        ctlive = self.options.ctlive
        secret = os.path.join(self.dir, "token-secret")
        if not os.path.exists(secret):
            run(ctlive, "web", "secret", secret)
        tokens = {user: run(ctlive, "web", "token", "--secret", secret, "--role", role, "--user", user).stdout.strip()
                  for user, role in (("A0", "agent"), ("C0", "customer"))}
        self.spawn("hub", self.ns(self.server_ns, ctlive, "hub", "--signaling", f"tcp://127.0.0.1:{HUB_SIGNALING}",
                                  "--media", f"tcp://127.0.0.1:{HUB_MEDIA}", "--log-level", "error"))
        time.sleep(0.5)
        janus = []
        if media == "webrtc":
            self.janus()
            janus = ["--janus", f"http://127.0.0.1:{JANUS_PORT}/janus"]
        self.spawn("web", self.ns(self.server_ns, ctlive, "web", "--http", f"{SERVER_IP}:{WEB_PORT}", "--hub", f"tcp://127.0.0.1:{HUB_SIGNALING}",
                                  "--token-secret", secret, "--log-level", "error", *janus), ready=rf"{re.escape(SERVER_IP)}:\d+")
        base, extra = f"http://{SERVER_IP}:{WEB_PORT}", f"&media={media}{self.options.query}"
        pages = {}
        try:
            pages["agent"] = BenchPage(self.browsers["server"], "agent", f"{base}/agent.html?user=A0&autoAccept=1&token={tokens['A0']}{extra}",
                                       self.inject(AGENT_ID, CUSTOMER_ID, PANEL))
            self.open_pages = list(pages.values())
            time.sleep(1)
            pages["customer"] = BenchPage(self.browsers["client"], "customer",
                                          f"{base}/customer.html?user=C0&agent=A0&autostart=1&token={tokens['C0']}{extra}",
                                          self.inject(CUSTOMER_ID, AGENT_ID, PANEL))
            self.open_pages = list(pages.values())
            reset_own = "(() => { for (const p of window.ctliveContact?.room?.remote?.values() || []) p.latencies = []; return true; })()"
            results = self.measure(pages, {"agent": [reset_own], "customer": [reset_own]},
                                   "window.ctliveContact?.mediaStats()?.sent?.sentBytes ?? null")
            for name, page in pages.items():
                results[name]["ctliveStats"] = page.evaluate("window.ctliveContact ? window.ctliveContact.mediaStats() : null")
                results[name]["console"] = page.console()[-15:]
            results["agent"]["senderKbitPerSecond"], results["customer"]["senderKbitPerSecond"] = (
                results["customer"].get("senderKbitPerSecond"), results["agent"].get("senderKbitPerSecond"))
            return {"customerToAgent": results["agent"], "agentToCustomer": results["customer"]}
        finally:
            for page in pages.values():
                page.close()
            self.open_pages = []
            self.stop("web")
            self.stop("hub")

    def run_pair(self, profile, room):
        base = f"http://{SERVER_IP}:{PAIR_PORT}/pair.html?room={room}"
        pages = {}
        try:
            pages["b"] = BenchPage(self.browsers["server"], "b", f"{base}&role=b", self.inject(AGENT_ID, CUSTOMER_ID, "#remote"))
            self.open_pages = list(pages.values())
            pages["a"] = BenchPage(self.browsers["client"], "a", f"{base}&role=a", self.inject(CUSTOMER_ID, AGENT_ID, "#remote"))
            self.open_pages = list(pages.values())
            results = self.measure(pages, {}, "window.pairStats ? window.pairStats().then((s) => s['out.bytesSent'] ?? null) : null")
            for name, page in pages.items():
                results[name]["webrtcStats"] = page.evaluate("window.pairStats ? window.pairStats() : null")
                results[name]["pairEvents"] = page.evaluate("window.pairState ? window.pairState.events : null")
                results[name]["console"] = page.console()[-15:]
            results["b"]["senderKbitPerSecond"], results["a"]["senderKbitPerSecond"] = (
                results["a"].get("senderKbitPerSecond"), results["b"].get("senderKbitPerSecond"))
            return {"customerToAgent": results["b"], "agentToCustomer": results["a"]}
        finally:
            for page in pages.values():
                page.close()
            self.open_pages = []

    def main(self):
        log(f"namespaces {self.client_ns} ({CLIENT_IP}) and {self.server_ns} ({SERVER_IP}), files in {self.dir}")
        self.make_link()
        self.start_linkemu("clean")
        check = self.ping(3)
        if check["lossPct"] is None or check["lossPct"] >= 100:
            raise RuntimeError(f"no ping across the link: {check}")
        log(f"link up: ping {check}")
        self.stop_linkemu()
        self.spawn("pairserver", self.ns(self.server_ns, sys.executable, os.path.join(LINK, "pairserver.py"), "--bind", SERVER_IP,
                                         "--port", str(PAIR_PORT)), ready=r"listening")
        self.browsers["server"] = self.chromium(self.server_ns)
        self.browsers["client"] = self.chromium(self.client_ns)
        for browser in self.browsers.values():
            browser.call("Target.setDiscoverTargets", {"discover": False})
        report = {"seconds": self.options.seconds, "query": self.options.query, "ctlive": self.options.ctlive, "profiles": {}}
        for index, profile in enumerate(self.options.profiles):
            log(f"profile {profile}: linkemu {' '.join(PROFILES[profile]) or '(no impairment)'}")
            self.start_linkemu(profile)
            entry = {"linkemuArgs": PROFILES[profile], "ping": self.ping()}
            entry["loadAverage1m"] = round(os.getloadavg()[0], 2)
            log(f"  ping {entry['ping']}, load average {entry['loadAverage1m']} (2 cores: other work skews the figures)")
            try:
                for media in ("webrtc", "websocket"):
                    if media in self.options.systems:
                        log(f"  ctlive web, media over {media}")
                        entry[media] = self.run_ctlive(profile, media)
                if "pair" in self.options.systems:
                    log("  WebRTC pair")
                    entry["pair"] = self.run_pair(profile, f"{index}-{self.tag}")
            finally:
                entry["linkemu"] = self.stop_linkemu()
            for system in ("webrtc", "websocket", "pair"):
                for direction, result in entry.get(system, {}).items():
                    result["figures"] = figures(result)
            report["profiles"][profile] = entry
            print_rows(profile, entry, header=(index == 0))
        if self.options.json:
            with open(self.options.json, "w") as f:
                json.dump(report, f, indent=1)
            log(f"wrote {self.options.json}")
        return report


SELF_TEST = """(() => {
  // The code painted by the camera, drawn into a 960x540 panel at several scales and places (smoothed, as a
  // scaled picture is), next to a small copy with another sender id (a self view): each must read back.
  const frame = document.createElement("canvas"); frame.width = 640; frame.height = 360;
  const panel = document.createElement("canvas"); panel.width = 960; panel.height = 540;
  const g = panel.getContext("2d", { willReadFrequently: true });
  const out = [];
  const paint = (stamp, id) => {
    const f = frame.getContext("2d");
    f.fillStyle = "#3a4a5a"; f.fillRect(0, 0, 640, 360);
    window.linkBench.paintForTest(f, stamp, id);
  };
  for (const scale of [0.22, 0.3, 0.5, 0.75, 1, 1.5]) {
    for (const [x, y] of [[0, 0], [37, 11], [960 - 640 * scale, 540 - 360 * scale]]) {
      const stamp = Date.now() - Math.floor(Math.random() * 5000);
      g.fillStyle = "#111"; g.fillRect(0, 0, 960, 540);
      paint(stamp, 2);
      g.drawImage(frame, x, y, 640 * scale, 360 * scale);
      paint(stamp + 1234, 1);
      if (x > 480) g.drawImage(frame, 10, 10, 192, 108); else g.drawImage(frame, 760, 430, 192, 108); // not over the picture
      const image = g.getImageData(0, 0, 960, 540);
      const found = window.linkBench.scan({ data: image.data, width: 960, height: 540, x: 0, y: 0 }, 2);
      out.push({ scale, x, y, ok: !!found && found.code.t === stamp % 2 ** 25 && found.code.id === 2 });
    }
  }
  // Noise must not decode.
  const noise = g.createImageData(960, 540);
  for (let i = 0; i < noise.data.length; i++) noise.data[i] = (i % 4 === 3) ? 255 : (Math.random() * 256) | 0;
  out.push({ noise: true, ok: !window.linkBench.scan({ data: noise.data, width: 960, height: 540, x: 0, y: 0 }) });
  return out;
})()"""


def self_test(options):
    """The barcode painted and read back in one headless Chromium (no namespaces, no ctlive)."""
    browser = Chromium(options.chromium, [])
    try:
        barcode = open(os.path.join(LINK, "barcode.js")).read()
        page = BenchPage(browser, "test", "about:blank", barcode)
        time.sleep(1)
        page.evaluate(barcode)
        results = page.evaluate(SELF_TEST)
    finally:
        browser.close()
    failed = [r for r in results if not r.get("ok")] if isinstance(results, list) else [results]
    print(json.dumps({"cases": len(results) if isinstance(results, list) else 0, "failed": failed}))
    return 1 if failed else 0


def figures(result):
    """Median and p95 latency, pictures per second, freezes, from a reader's log."""
    entries = result.get("log") or []
    since, until = result.get("since"), result.get("until")
    if not since or not until or until <= since:
        return None
    latencies = sorted(latency for _, latency in entries)
    arrivals = [since] + [arrival for arrival, _ in entries] + [until]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    freezes = [gap for gap in gaps if gap > FREEZE_MS]
    seconds = (until - since) / 1000
    out = {"pictures": len(entries), "seconds": round(seconds, 2), "fps": round(len(entries) / seconds, 1),
           "freezes": len(freezes), "longestFreezeMs": max(freezes) if freezes else 0, "frozenMs": sum(freezes)}
    if latencies:
        out.update(medianMs=latencies[len(latencies) // 2], p95Ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))],
                   maxMs=latencies[-1], minMs=latencies[0])
    return out


def cell(f):
    if not f or not f.get("pictures"):
        return "no picture", "0", f"frozen {f['frozenMs'] / 1000:.0f} s" if f else "-"
    freezes = f"{f['freezes']} ({f['longestFreezeMs']} ms)" if f["freezes"] else "0"
    return f"{f['medianMs']} / {f['p95Ms']}", f"{f['fps']:.1f}", freezes


def print_rows(profile, entry, header):
    systems = [("webrtc", "ctlive WebRTC"), ("websocket", "ctlive WebSocket"), ("pair", "WebRTC pair")]
    if header:
        print("| profile | direction | " + " | ".join(f"{label} median / p95 ms | fps | freezes (longest)" for _, label in systems)
              + " | p95 ratio WebRTC / pair | p95 ratio WebSocket / pair |")
        print("|---|---|" + "---|---|---|" * len(systems) + "---|---|")
    for direction, label in (("customerToAgent", "customer → agent"), ("agentToCustomer", "agent → customer")):
        found = {system: entry.get(system, {}).get(direction, {}).get("figures") for system, _ in systems}
        ratios = []
        for system in ("webrtc", "websocket"):
            ours, theirs = found[system], found["pair"]
            ratios.append(f"{ours['p95Ms'] / theirs['p95Ms']:.2f}" if ours and theirs and ours.get("p95Ms") and theirs.get("p95Ms") else "-")
        cells = " | ".join(" | ".join(cell(found[system])) for system, _ in systems)
        print(f"| {profile} | {label} | {cells} | {' | '.join(ratios)} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ctlive", default=".build/release/ctlive")
    parser.add_argument("--profiles", default="clean,40ms-1%,40ms-3%,2mbit,1mbit", help=f"comma-separated, of {', '.join(PROFILES)}".replace("%", "%%"))
    parser.add_argument("--seconds", type=float, default=20, help="per measurement")
    parser.add_argument("--settle", type=float, default=3, help="seconds after the pictures start before measuring")
    parser.add_argument("--start-timeout", type=float, default=40, help="seconds to wait for the first pictures")
    parser.add_argument("--query", default="", help="appended to both ctlive page URLs")
    parser.add_argument("--json", help="write every figure (and the raw per-picture logs) here")
    parser.add_argument("--linkemu", help="a built linkemu (else built from --linkemu-source with gcc)")
    parser.add_argument("--linkemu-source", default="/work/shared/tools/linkemu.c")
    parser.add_argument("--linkemu-rt", type=int, default=10, help="SCHED_FIFO priority of linkemu (0: none)")
    parser.add_argument("--chromium", default=os.environ.get("CTLIVE_CHROMIUM", "chromium"))
    parser.add_argument("--chromium-arg", action="append", default=[])
    parser.add_argument("--texture", choices=["noise", "flat"], default="noise",
                        help="the fake camera's picture around the code: 16x16 blocks of mild noise (costs bits like a camera) or flat")
    parser.add_argument("--systems", default="webrtc,websocket,pair", help="what to measure: webrtc, websocket, pair (comma-separated)")
    parser.add_argument("--self-test", action="store_true", help="only check the barcode reader (no root needed)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, linkemu stats)")
    options = parser.parse_args()
    options.profiles = [p for p in options.profiles.split(",") if p]
    options.systems = [s for s in options.systems.split(",") if s]
    unknown = [p for p in options.profiles if p not in PROFILES]
    if unknown:
        parser.error(f"unknown profile {', '.join(unknown)} (known: {', '.join(PROFILES)})")
    if options.query and not options.query.startswith("&"):
        options.query = "&" + options.query
    if options.self_test:
        return self_test(options)
    if os.geteuid() != 0:
        parser.error("needs root (network namespaces, AF_PACKET)")
    options.ctlive = os.path.abspath(options.ctlive)
    if not os.access(options.ctlive, os.X_OK):
        parser.error(f"no ctlive at {options.ctlive}")

    def terminated(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background (SIGINT ignored)
    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGHUP, terminated)

    bench = Bench(options)
    try:
        bench.main()
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Exception as error:
        log(f"failed: {type(error).__name__}: {error}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the teardown short
        bench.teardown()


if __name__ == "__main__":
    sys.exit(main())
