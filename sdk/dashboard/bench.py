"""The dashboard's bench rows (Markdown), run by .ci/bench:

- bundle size: the page, script and style sheet as served, raw and gzipped;
- navigation → node table rendered: from navigation start to the User Timing
  mark `orchion:nodes-rendered` (the overview's first rows), and to
  `orchion:jobs-loaded` (the whole job list loaded), median of 5 fresh loads;
- main-thread responsiveness: for 10 s on the overview (N agents beating, the
  node list reloaded as it does) and 10 s on the jobs list while it scrolls
  continuously, the longest gap between animation frames, the 99th
  percentile gap, and the long tasks (> 50 ms) with their blocking time.

It starts `orchion-bench dashboard-cluster` (the real orchion server as a
child, simulated agents over the real protocol, jobs submitted) and drives
Debian's headless chromium through chromium-driver with Selenium.

    python bench.py PATH/TO/orchion-bench [--agents 1000] [--jobs 10000] [--screenshot PNG]
"""
import argparse
import gzip
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

WATCH = """
const done = arguments[arguments.length - 1];
const seconds = arguments[0];
const scroll = arguments[1];
const gaps = [];
const tasks = [];
const observer = new PerformanceObserver((list) => { for (const entry of list.getEntries()) tasks.push(entry.duration); });
observer.observe({ entryTypes: ["longtask"] });
const body = document.querySelector(".table-body");
let last = performance.now();
const end = last + seconds * 1000;
function frame(now) {
  gaps.push(now - last);
  last = now;
  if (scroll && body) body.scrollTop = (body.scrollTop + 600) % Math.max(1, body.scrollHeight - body.clientHeight);
  if (now < end) requestAnimationFrame(frame);
  else {
    observer.disconnect();
    const held = document.querySelector(".filters .count") || document.querySelector(".summary dd");
    done({ gaps, tasks, rows: document.querySelectorAll("[data-job], [data-node]").length, held: held ? held.textContent : "" });
  }
}
requestAnimationFrame(frame);
"""


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def fetch(url, gzip_ok):
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip_ok else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bench")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--screenshot", help="also save the overview as this PNG (docs/dashboard-overview.png)")
    arguments = parser.parse_args()

    cluster = subprocess.Popen(
        [arguments.bench, "dashboard-cluster", "--agents", str(arguments.agents), "--jobs", str(arguments.jobs)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    driver = None
    try:
        line = cluster.stdout.readline().split()
        if len(line) != 3 or line[0] != "READY":
            sys.exit(f"bench.py: expected READY PORT TOKEN from the cluster, found {line}")
        url, token = f"http://127.0.0.1:{line[1]}", line[2]

        index = fetch(f"{url}/", False).decode()
        files = ["/"] + [part for part in index.split('"') if part.startswith("/assets/")]
        # The chunks the script imports (Chart.js's is loaded with the first node page).
        for script in [path for path in files if path.endswith(".js")]:
            for chunk in sorted(set(re.findall(r"\./(chunk-[A-Z0-9]+\.js)", fetch(url + script, False).decode()))):
                files.append(f"/assets/{chunk}")
        print("| file | raw bytes | gzip bytes |")
        print("|---|---:|---:|")
        total_raw = total_gzip = 0
        for path in files:
            raw = fetch(url + path, False)
            packed = fetch(url + path, True)
            assert gzip.decompress(packed) == raw, path
            total_raw += len(raw)
            total_gzip += len(packed)
            print(f"| `{path}` | {len(raw):,} | {len(packed):,} |")
        print(f"| all | {total_raw:,} | {total_gzip:,} |")
        print()

        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("ORCHION_CHROMIUM", "/usr/bin/chromium")
        for option in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                       "--window-size=1400,900", "--no-first-run"]:
            options.add_argument(option)
        driver = webdriver.Chrome(
            service=Service(os.environ.get("ORCHION_CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
        driver.set_script_timeout(arguments.seconds + 30)
        driver.get(f"{url}/")
        driver.execute_script("window.sessionStorage.setItem('orchion.token', arguments[0])", token)
        rendered, loaded = [], []
        for _ in range(5):
            driver.get("about:blank")  # a fresh load each time, not a hash change
            driver.get(f"{url}/#/nodes")
            deadline = time.monotonic() + 120
            marks = {}
            while time.monotonic() < deadline and len(marks) < 2:
                marks = driver.execute_script(
                    "return Object.fromEntries(performance.getEntriesByType('mark')"
                    ".filter(m => m.name.startsWith('orchion:')).map(m => [m.name, m.startTime]))")
                time.sleep(0.05)
            if len(marks) < 2:
                sys.exit(f"bench.py: the page did not render within 120 s (marks: {marks})")
            rendered.append(marks["orchion:nodes-rendered"])
            loaded.append(marks["orchion:jobs-loaded"])
        print(f"| {arguments.agents:,} nodes, {arguments.jobs:,} jobs | median of 5 loads, ms |")
        print("|---|---:|")
        print(f"| navigation → node table rendered | {statistics.median(rendered):.0f} |")
        print(f"| navigation → all jobs loaded | {statistics.median(loaded):.0f} |")
        print()

        print(f"| page, {arguments.seconds:.0f} s | shown | rows in the DOM | longest frame gap ms | p99 frame gap ms "
              "| long tasks | blocking time ms |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for label, fragment, scroll in [
            (f"overview, {arguments.agents:,} nodes beating", "#/nodes", False),
            (f"jobs, {arguments.jobs:,} jobs, scrolling", "#/jobs", True),
        ]:
            driver.get("about:blank")
            driver.get(f"{url}/{fragment}")
            time.sleep(3)  # the first load settles (its cost is the row above)
            result = driver.execute_async_script(WATCH, arguments.seconds, scroll)
            gaps, tasks = result["gaps"][1:], result["tasks"]
            blocking = sum(max(0.0, task - 50) for task in tasks)
            print(f"| {label} | {result['held']} | {result['rows']} | {max(gaps):.0f} | {percentile(gaps, 0.99):.0f} "
                  f"| {len(tasks)} | {blocking:.0f} |")
        if arguments.screenshot:
            driver.get("about:blank")
            driver.get(f"{url}/#/nodes")
            time.sleep(3)
            driver.save_screenshot(arguments.screenshot)
    finally:
        if driver is not None:
            driver.quit()
        cluster.stdin.close()
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cluster.kill()


if __name__ == "__main__":
    main()
