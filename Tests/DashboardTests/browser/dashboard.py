"""Browser scenarios for the dashboard: Selenium driving Debian's chromium
(headless, through chromium-driver) against a real `orchion server` and
agents that the Swift test (DashboardBrowserTests) started.

    dashboard.py SCENARIO --url URL --token TOKEN --artifacts DIR

When the scenario needs the cluster changed (an agent killed, the server
restarted, a job submitted out of band), it prints one line
`@@ ACTION ARG...` and waits for the Swift side to answer `ok` (or
`error ...`) on stdin. Every wait is bounded; every scenario saves a
screenshot DIR/SCENARIO.png (SCENARIO-failed.png when it fails) and fails
on any Content-Security-Policy violation or script error in the console.
"""
import argparse
import os
import sys
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select


class ScenarioFailed(Exception):
    pass


def action(*words):
    """Asks the Swift test to change the cluster; waits for its answer."""
    print("@@ " + " ".join(words), flush=True)
    answer = sys.stdin.readline().strip()
    if answer != "ok":
        raise ScenarioFailed(f"action {' '.join(words)}: expected ok, found {answer!r}")


class Page:
    def __init__(self, url, token, artifacts, width=1400, height=900):
        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("ORCHION_CHROMIUM", "/usr/bin/chromium")
        for argument in [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--window-size={width},{height}", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--force-prefers-reduced-motion",
        ]:
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(os.environ.get("ORCHION_CHROMEDRIVER", "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.url = url.rstrip("/")
        self.token = token
        self.artifacts = artifacts
        self.console = []

    def close(self):
        self.driver.quit()

    def wait(self, what, condition, timeout=20.0):
        """Polls `condition` every 100 ms until it returns something truthy."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                value = condition()
                if value:
                    return value
            except (StaleElementReferenceException, WebDriverException) as error:
                last = error
            time.sleep(0.1)
        raise ScenarioFailed(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last})" if last else ""))

    def css(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self, selector):
        elements = self.css(selector)
        return elements[0].text if elements else ""

    def go(self, fragment):
        self.driver.get(f"{self.url}/{fragment}")

    def sign_in(self):
        self.go("")
        field = self.wait("the sign-in form", lambda: self.css("#token"))[0]
        field.send_keys(self.token, Keys.ENTER)
        self.wait("the dashboard", lambda: self.css("[data-testid=connection]"))
        self.wait("the live state", lambda: self.connection() == "live")

    def connection(self):
        pills = self.css("[data-testid=connection]")
        return pills[0].get_attribute("data-state") if pills else None

    def screenshot(self, name):
        os.makedirs(self.artifacts, exist_ok=True)
        self.driver.save_screenshot(os.path.join(self.artifacts, f"{name}.png"))

    def check_console(self):
        """Fails on a CSP violation or an uncaught error in the page."""
        entries = self.driver.get_log("browser")
        self.console += entries
        bad = [
            entry["message"] for entry in entries
            if entry["level"] == "SEVERE" and "net::ERR" not in entry["message"]
            and "Failed to load resource" not in entry["message"]
        ]
        bad += [entry["message"] for entry in entries if "Content Security Policy" in entry["message"]]
        if bad:
            raise ScenarioFailed("errors in the browser console:\n" + "\n".join(bad))

    def job_state(self):
        return self.text("#job-title [data-testid=state]")

    def submit_form(self, **fields):
        self.go("#/submit")
        self.wait("the submit form", lambda: self.css("[data-testid=submit-form]"))
        for name, value in fields.items():
            if name == "strategy":
                Select(self.css("#field-strategy")[0]).select_by_value(value)
                continue
            element = self.css(f"#field-{name}")[0]
            element.clear()
            element.send_keys(value)
        self.css("[data-testid=submit-form] button[type=submit]")[0].click()
        return self.wait("the new job's page", lambda: self.css("#job-title") and "#/jobs/" in self.driver.current_url)


def sign_in_and_nodes(page):
    # A wrong token is refused on the form, and never reaches the URL.
    page.go("")
    page.wait("the sign-in form", lambda: page.css("#token"))[0].send_keys("not-the-token", Keys.ENTER)
    error = page.wait("the refusal", lambda: page.text("[data-testid=signin-error]"))
    assert "invalid bearer token" in error, error
    page.sign_in()
    assert page.token not in page.driver.current_url
    stored = page.driver.execute_script("return window.sessionStorage.getItem('orchion.token')")
    assert stored == page.token, "the token is kept in session storage"
    assert page.driver.execute_script("return window.localStorage.length") == 0
    rows = page.wait("two ready nodes", lambda: [
        row for row in page.css("[data-node]") if row.get_attribute("data-state") == "ready"
    ] if len(page.css("[data-node][data-state=ready]")) == 2 else None)
    for row in rows:
        text = row.text
        assert any(arch in text for arch in ["x86_64", "aarch64"]), f"architecture shown: {text}"
        assert "%" in text, f"CPU and memory use shown: {text}"
    # The heartbeat age ticks without a reload.
    first = page.text("[data-testid=heartbeat]")
    page.wait("a heartbeat age", lambda: "ago" in page.text("[data-testid=heartbeat]") or page.text("[data-testid=heartbeat]") == "now")
    assert first is not None
    # Node detail: hardware facts and the telemetry chart over the kept history.
    page.css("[data-node] a")[0].click()
    page.wait("the node page", lambda: page.css("#node-title"))
    page.wait("telemetry samples in the chart", lambda: int(page.css("[data-testid=telemetry-chart]")[0].get_attribute("data-samples")) >= 2)
    facts = page.text(".facts")
    assert "cores" in facts and "GiB" in facts, facts
    page.screenshot("node-detail")
    page.go("#/nodes")
    page.wait("the node table", lambda: len(page.css("[data-node]")) == 2)
    # Keyboard: the skip link comes first, then the sections; Enter follows a link.
    page.go("")
    page.wait("the node table", lambda: len(page.css("[data-node]")) == 2)
    page.driver.execute_script("document.activeElement && document.activeElement.blur()")
    keys = ActionChains(page.driver)
    keys.send_keys(Keys.TAB).perform()
    focused = page.driver.switch_to.active_element
    assert focused.get_attribute("class") == "skip", focused.get_attribute("outerHTML")
    keys.send_keys(Keys.TAB).perform()
    keys.send_keys(Keys.TAB).perform()
    focused = page.driver.switch_to.active_element
    assert focused.text == "Jobs", focused.get_attribute("outerHTML")
    keys.send_keys(Keys.ENTER).perform()
    page.wait("the jobs page by keyboard", lambda: page.css("#jobs-title"))
    page.go("#/nodes")
    page.wait("the node table", lambda: len(page.css("[data-node]")) == 2)
    # Dark, from prefers-color-scheme.
    light = page.driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    page.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    dark = page.driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert light == "rgb(247, 248, 250)" and dark == "rgb(17, 20, 24)", (light, dark)
    page.screenshot("overview-dark")
    page.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    # Phone width: nothing wider than the screen, the node rows still there.
    page.driver.set_window_size(390, 844)
    page.wait("the narrow layout", lambda: page.driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"))
    assert len(page.css("[data-node]")) == 2
    page.screenshot("overview-phone")
    page.driver.set_window_size(1400, 900)


def submit_and_follow(page):
    page.sign_in()
    page.submit_form(
        command="echo first line; sleep 1; echo second line; sleep 1; echo >&2 to stderr; echo last line",
        name="browser-job", cpu="100m", memory="16Mi")
    page.wait("the job running", lambda: page.job_state() in ("running", "succeeded"))
    page.wait("the first line live", lambda: "first line" in page.text("[data-testid=log]"))
    saw_running_with_partial_output = page.job_state() == "running" and "last line" not in page.text("[data-testid=log]")
    page.wait("the job succeeded", lambda: page.job_state() == "succeeded", timeout=30)
    log = page.wait("every line", lambda: "last line" in page.text("[data-testid=log]") and page.text("[data-testid=log]"))
    assert log.splitlines() == ["first line", "second line", "to stderr", "last line"], log
    assert page.css("[data-testid=log] .stderr")[0].text == "to stderr"
    timeline = page.text("[data-testid=timeline]")
    for state in ["pending", "running", "succeeded"]:
        assert state in timeline, f"{state} in the timeline: {timeline}"
    assert timeline.index("pending") < timeline.index("running") < timeline.index("succeeded"), timeline
    assert saw_running_with_partial_output, "output arrived while the job ran, not only at its end"
    assert not page.css("[data-testid=cancel]"), "a finished job cannot be cancelled"
    # The jobs list shows it succeeded, and filters by state.
    page.go("#/jobs")
    page.wait("the job in the list", lambda: page.css("[data-job][data-state=succeeded]"))
    Select(page.css("[data-testid=state-filter]")[0]).select_by_value("JOB_STATE_RUNNING")
    page.wait("the state filter", lambda: not page.css("[data-job]"))
    Select(page.css("[data-testid=state-filter]")[0]).select_by_value("")
    page.go("#/submit")
    # The form checks what the server would refuse, before sending.
    page.wait("the submit form", lambda: page.css("#field-cpu"))
    page.css("#field-cpu")[0].send_keys("lots")
    page.css("[data-testid=submit-form] button[type=submit]")[0].click()
    page.wait("the field errors", lambda: page.css("[data-testid=error-command]") and page.css("[data-testid=error-cpu]"))
    assert page.css("#field-cpu")[0].get_attribute("aria-invalid") == "true"


def cancel_running(page):
    page.sign_in()
    page.submit_form(command="echo started; sleep 60", name="to-cancel")
    page.wait("the job running", lambda: page.job_state() == "running")
    page.wait("its output", lambda: "started" in page.text("[data-testid=log]"))
    page.css("[data-testid=cancel]")[0].click()
    page.wait("the job cancelled", lambda: page.job_state() == "cancelled", timeout=20)
    page.wait("the cancel button gone", lambda: not page.css("[data-testid=cancel]"))
    attempts = page.text("table.plain")
    assert "cancelled" in attempts, attempts


def why_pending(page):
    page.sign_in()
    page.submit_form(command="true", name="nowhere", labels="zone=mars")
    page.wait("the job pending", lambda: page.job_state() == "pending")
    why = page.wait("the why-pending reason", lambda: page.text("[data-testid=why-pending-detail]"))
    assert "zone" in why or "label" in why, why
    page.go("#/jobs")
    row = page.wait("the reason in the list", lambda: page.text("[data-job] [data-testid=why-pending]"))
    assert "node" in row, row
    # Plugins: the built-in strategies loaded, the default switched from the page.
    page.go("#/plugins")
    table = page.wait("the plugin table", lambda: "bin-packing" in page.text("[data-testid=plugin-table]")
                      and page.text("[data-testid=plugin-table]"))
    for name in ["spread", "round-robin", "gpu-affinity"]:
        assert name in table, table
    assert "loaded" in table, table
    select = Select(page.css("[data-testid=default-strategy]")[0])
    assert select.first_selected_option.get_attribute("value") == "spread"
    select.select_by_value("bin-packing")
    page.wait("bin-packing the default", lambda: "bin-packing default" in page.text("[data-testid=plugin-table]"))
    action("expect-default", "bin-packing")


def node_goes_down(page):
    page.sign_in()
    page.wait("two ready nodes", lambda: len(page.css("[data-node][data-state=ready]")) == 2)
    action("kill-agent", "n2")
    page.wait("n2 suspect", lambda: page.css("[data-node=n2][data-state=suspect]"), timeout=15)
    page.screenshot("node-suspect")
    page.wait("n2 down", lambda: page.css("[data-node=n2][data-state=down]"), timeout=20)
    assert page.css("[data-node=n1][data-state=ready]"), "the other node stays ready"
    summary = page.text(".summary")
    assert "Down\n1" in summary, summary


def server_restart(page):
    page.sign_in()
    action("submit", "before-restart")
    page.go("#/jobs")
    page.wait("the first job", lambda: page.css("[data-job]"))
    action("stop-server")
    # The page notices and says so, then comes back without a reload.
    page.wait("the reconnecting state", lambda: page.connection() == "reconnecting", timeout=15)
    page.screenshot("server-restart-reconnecting")
    action("start-server")
    page.wait("live again", lambda: page.connection() == "live", timeout=30)
    # A job submitted after the restart arrives through the resumed stream.
    action("submit", "after-restart")
    page.wait("both jobs succeeded", lambda: len(page.css("[data-job][data-state=succeeded]")) == 2, timeout=30)
    # Both with their specs (a spec load cut off by the restart is tried again).
    page.wait("both jobs named", lambda: sorted(e.text for e in page.css("[data-job] .name a")) == ["after-restart", "before-restart"])
    assert page.driver.execute_script("return performance.getEntriesByType('navigation').length") == 1, "no reload"


def up_cluster(page):
    page.sign_in()
    page.wait("the local node and the joined one, ready", lambda: len(page.css("[data-node][data-state=ready]")) == 2)
    assert page.css("[data-node=second-node]"), "the joined agent's node"
    page.submit_form(command="echo hello from the dashboard", name="up-job")
    page.wait("the job succeeded", lambda: page.job_state() == "succeeded", timeout=30)
    log = page.wait("its output", lambda: page.text("[data-testid=log]"))
    assert log == "hello from the dashboard", log


def read_token(page):
    # A read token: looking works; submitting, cancelling and switching the
    # strategy are refused with the server's words, naming the scopes.
    page.sign_in()
    page.wait("two ready nodes", lambda: len(page.css("[data-node][data-state=ready]")) == 2)
    page.go("#/submit")
    page.wait("the submit form", lambda: page.css("#field-command"))
    page.css("#field-command")[0].send_keys("true")
    page.css("[data-testid=submit-form] button[type=submit]")[0].click()
    error = page.wait("the submit refusal", lambda: page.text("[data-testid=submit-error]"))
    assert error == "Not allowed with this token: SubmitJob needs scope submit; token 'viewer' has scope read", error
    page.go("#/jobs")
    page.wait("the admin's job", lambda: page.css("[data-job] .name a"))[0].click()
    page.wait("its page", lambda: page.css("#job-title"))
    assert page.text("[data-testid=submitted-by]") == "token 'tests'", page.text("[data-testid=submitted-by]")
    page.wait("the cancel button", lambda: page.css("[data-testid=cancel]"))[0].click()
    error = page.wait("the cancel refusal", lambda: page.text(".error[role=alert]"))
    assert "Not allowed with this token: CancelJob needs scope submit" in error, error
    page.go("#/plugins")
    page.wait("the plugin table", lambda: "bin-packing" in (page.text("[data-testid=plugin-table]") or ""))
    Select(page.css("[data-testid=default-strategy]")[0]).select_by_value("bin-packing")
    error = page.wait("the switch refusal", lambda: page.text(".error[role=alert]"))
    assert "Not allowed with this token: SetScheduler needs scope admin" in error, error


SCENARIOS = {
    "read-token": read_token,
    "up-cluster": up_cluster,
    "sign-in-and-nodes": sign_in_and_nodes,
    "submit-and-follow": submit_and_follow,
    "cancel-running": cancel_running,
    "why-pending": why_pending,
    "node-goes-down": node_goes_down,
    "server-restart": server_restart,
}


def main():
    # A process group of our own: the test kills it whole (chromedriver, chromium).
    os.setpgid(0, 0)
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--artifacts", required=True)
    parser.add_argument("--width", type=int, default=1400)
    arguments = parser.parse_args()
    page = Page(arguments.url, arguments.token, arguments.artifacts, width=arguments.width)
    try:
        SCENARIOS[arguments.scenario](page)
        page.check_console()
        page.screenshot(arguments.scenario)
        print(f"PASS {arguments.scenario}", flush=True)
    except Exception:
        traceback.print_exc()
        try:
            page.screenshot(f"{arguments.scenario}-failed")
        except WebDriverException:
            pass
        for entry in page.console:
            print("console:", entry.get("message"))
        sys.exit(1)
    finally:
        page.close()


if __name__ == "__main__":
    main()
