#!/usr/bin/env python3
"""Browser-to-browser figures through `ctlive web`: latency from one browser's camera to the other's
panel, and the CPU `ctlive web` spends per browser. Starts its own hub and gateway on free ports.

  python3 Tests/Browser/bench_web.py [--ctlive .build/release/ctlive] [--pairs 2] [--seconds 20]

Each pair is a customer page (autostart) and an agent page (autoAccept) in one headless Chromium.
Latency is measured in the receiving page: the time it draws a picture minus the sender's capture
time stamped in the packet (the same machine's clock), so it covers encode, the gateway, the hub,
the gateway again, decode and the wait for the next draw (every 33 ms), not the camera itself.
"""
import argparse, json, os, re, socket, subprocess, sys, time

sys.path.insert(0, os.path.dirname(__file__))
from browse import Chromium, Page  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctlive", default=".build/release/ctlive")
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    options = parser.parse_args()

    signaling, media = free_port(), free_port()
    hub = subprocess.Popen([options.ctlive, "hub", "--signaling", f"tcp://127.0.0.1:{signaling}", "--media", f"tcp://127.0.0.1:{media}",
                            "--log-level", "error"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    web = subprocess.Popen([options.ctlive, "web", "--http", "127.0.0.1:0", "--hub", f"tcp://127.0.0.1:{signaling}"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    port = int(re.search(r"127\.0\.0\.1:(\d+)/", web.stdout.readline()).group(1))
    base = f"http://127.0.0.1:{port}"
    browser = Chromium(os.environ.get("CTLIVE_CHROMIUM", "chromium"), [])
    try:
        pages = []
        for i in range(options.pairs):
            pages.append(Page(browser, f"agent{i}", f"{base}/agent.html?user=A{i}&autoAccept=1"))
        time.sleep(1)
        for i in range(options.pairs):
            pages.append(Page(browser, f"customer{i}", f"{base}/customer.html?user=C{i}&agent=A{i}&autostart=1"))
        flowing = "(() => { const s = window.ctliveContact?.mediaStats(); return s && Object.values(s.peers).some(p => p.framesDecoded > 30); })()"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(page.evaluate(flowing) for page in pages):
            time.sleep(0.5)
        # Measure from here: stats kept so far are dropped (they include the start).
        for page in pages:
            page.evaluate("(() => { for (const p of window.ctliveContact.room.remote.values()) p.latencies = []; })()")
        cpu0, wall0 = cpu_seconds(web.pid), time.monotonic()
        time.sleep(options.seconds)
        cpu1, wall1 = cpu_seconds(web.pid), time.monotonic()
        latencies = []
        print(f"{options.pairs} pairs ({2 * options.pairs} browsers), {options.seconds:.0f} s, one headless Chromium on this machine")
        for page in pages:
            stats = page.evaluate("window.ctliveContact.mediaStats()")
            for peer, figures in (stats or {}).get("peers", {}).items():
                latency = figures.get("latencyMs") or {}
                print(f"  {page.name:10} sees {peer:12} frames {figures['framesDecoded']:5}  camera-to-panel median {latency.get('median', 0):6.1f} ms"
                      f"  p95 {latency.get('p95', 0):6.1f} ms  ({latency.get('samples', 0)} pictures)")
                if latency:
                    latencies.append(latency["median"])
        share = (cpu1 - cpu0) / (wall1 - wall0)
        print(f"ctlive web: {share * 100:.1f}% of one core for {2 * options.pairs} browsers, {share * 100 / (2 * options.pairs):.2f}% per browser")
        if latencies:
            print(f"camera-to-panel latency, median of the pages' medians: {sorted(latencies)[len(latencies) // 2]:.1f} ms")
    finally:
        browser.close()
        web.terminate()
        _, errors = web.communicate(timeout=10)
        hub.terminate()
        hub.wait(timeout=10)
        print(errors.strip().splitlines()[-1] if errors.strip() else "")


if __name__ == "__main__":
    main()
