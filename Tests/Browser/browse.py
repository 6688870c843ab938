#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe): no
WebSocket client, no npm. Opens pages, waits until a JavaScript condition holds in each, then
prints what JavaScript expressions give and takes screenshots. The tests run it as a child process.

  browse.py --page customer=http://127.0.0.1:8080/customer.html?... \
            --until 'customer=window.ctliveEvents.some(e => e.type === "roomStarted")' \
            --hold 3 --result 'customer=window.ctliveEvents' --screenshot customer=/tmp/c.png

Prints one JSON object: {"pages": {name: {"results": {...}, "console": [...], "waited": seconds}}, "ok": bool}.
Exit code 0 when every condition held in time, 2 when one did not (the JSON says which), 1 on a
failure of the driver itself.
"""
import argparse, base64, json, os, shutil, subprocess, sys, tempfile, time


class Chromium:
    def __init__(self, binary, extra_args):
        self.profile = tempfile.mkdtemp(prefix="ctlive-chromium-")
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required", "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows",
                "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "--window-size=1280,800"] + extra_args
        # fd 3: commands to Chromium, fd 4: its answers.
        def child_fds():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)
        self.process = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=child_fds, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            import select
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer")
            ready, _, _ = select.select([self.from_child], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        request = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = session
        os.write(self.to_child, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def close(self):
        try:
            self.call("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, name, url):
        self.browser, self.name = browser, name
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Runtime.enable")
        self.call("Page.enable")
        self.call("Page.navigate", {"url": url})

    def call(self, method, params=None, timeout=30):
        return self.browser.call(method, params, session=self.session, timeout=timeout)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            return {"exception": result["exceptionDetails"].get("exception", {}).get("description", str(result["exceptionDetails"]))}
        return result.get("result", {}).get("value")

    def console(self):
        lines = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            if event.get("method") == "Runtime.consoleAPICalled":
                args = event["params"].get("args", [])
                lines.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
            elif event.get("method") == "Runtime.exceptionThrown":
                details = event["params"]["exceptionDetails"]
                lines.append("exception: " + details.get("exception", {}).get("description", details.get("text", "")))
        return lines[-200:]


def pairs(values):
    out = []
    for value in values or []:
        name, _, rest = value.partition("=")
        out.append((name, rest))
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chromium", default=os.environ.get("CTLIVE_CHROMIUM", "chromium"))
    parser.add_argument("--page", action="append", required=True, help="NAME=URL")
    parser.add_argument("--until", action="append", help="NAME=EXPR, waited for until truthy")
    parser.add_argument("--result", action="append", help="NAME=EXPR, printed")
    parser.add_argument("--screenshot", action="append", help="NAME=FILE (PNG)")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--hold", type=float, default=0, help="seconds to wait after the conditions held")
    parser.add_argument("--chromium-arg", action="append", default=[])
    options = parser.parse_args()

    browser = Chromium(options.chromium, options.chromium_arg)
    output = {"pages": {}, "ok": True}
    try:
        browser.call("Target.setDiscoverTargets", {"discover": False})
        pages = {name: Page(browser, name, url) for name, url in pairs(options.page)}
        for name in pages:
            output["pages"][name] = {"results": {}, "console": [], "waited": None}
        start = time.monotonic()
        waiting = dict(pairs(options.until))
        while waiting and time.monotonic() - start < options.timeout:
            for name, expression in list(waiting.items()):
                value = pages[name].evaluate(expression)
                if value and not (isinstance(value, dict) and "exception" in value):
                    output["pages"][name]["waited"] = round(time.monotonic() - start, 2)
                    del waiting[name]
            time.sleep(0.2)
        for name, expression in waiting.items():
            output["ok"] = False
            output["pages"][name]["timedOut"] = expression
        if options.hold:
            time.sleep(options.hold)
        for name, expression in pairs(options.result):
            output["pages"][name]["results"][expression] = pages[name].evaluate(expression)
        for name, path in pairs(options.screenshot):
            data = pages[name].call("Page.captureScreenshot", {"format": "png"})["data"]
            with open(path, "wb") as f:
                f.write(base64.b64decode(data))
        for name, page in pages.items():
            output["pages"][name]["console"] = page.console()
    finally:
        browser.close()
    json.dump(output, sys.stdout)
    sys.stdout.write("\n")
    return 0 if output["ok"] else 2


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:
        json.dump({"ok": False, "error": f"{type(error).__name__}: {error}"}, sys.stdout)
        sys.stdout.write("\n")
        sys.exit(1)
