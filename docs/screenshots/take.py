"""Take the README's screenshots of the demo again, in Chinese, at 1366×768.

    .venv/bin/python docs/screenshots/take.py            # writes docs/screenshots/*.png
    .venv/bin/python docs/screenshots/take.py --out /tmp/shots --keep

What it does, so that anyone gets the same pictures:

1. compiles the Chinese catalog (``python -m arrears.translations.build``, as ``make run``
   does; the compiled catalog is a git-ignored build product);
2. makes a throw-away SQLite database and data folder in a temporary directory and loads
   the demo into it (``flask arrears init-db`` and ``flask arrears demo``, 30–60 s) —
   the database of ``make run`` (``instance/``) is not touched;
3. serves the app with ``flask --app wsgi run`` on a free port (``ARREARS_DEVELOPMENT=1``,
   plain http; ``ARREARS_WARM_FIGURES=0``);
4. drives Debian's Chromium (``/usr/bin/chromium``, never a downloaded browser) through
   Playwright, logs in through the login form as the demo users (password demo1234) and
   photographs the pages below; each page is checked first (HTTP 200, Chinese, no error
   page, the content expected);
5. stops the server and deletes the temporary directory (``--keep`` keeps it), also when
   something fails.

The pictures (the README's file names):

- dashboard.png             the overview ``/``, as clerk (full page);
- households.png            the household list ``/households/`` sorted by amount, largest
                            first, as clerk (the first screen only);
- household.png             the household with the demo's active payment plan, as clerk
                            (full page);
- work-queue.png            the work queue on the overview (today's first 20 households and
                            when to call them), as clerk: the full width of the page, from
                            the queue's card top to bottom (``/queue`` lists them all, too
                            long for a picture);
- call-guide.png            the demo household with broken promises (the first on the
                            work queue that has one), as clerk, with a reason for not
                            paying chosen in the contact form so that its guide opens
                            beside it (full page: the guide is in the right-hand
                            column, under the contact form);
- performance.png           ``/performance/`` for the last whole month (chosen in its month
                            field), as manager (full page);
- commission-statement.png  clerk's commission statement of that month, opened from the
                            performance page (full page);
- visits.png                the visit-sheet chooser ``/visits/`` with 1栋 and 2栋 chosen,
                            as manager (full page).

notice.png and batch.png are not taken here: the browser tests write them
(``ARREARS_DOC_SCREENSHOTS=1 make test``).
"""
import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV_BIN = REPO / ".venv" / "bin"
FLASK = [str(VENV_BIN / "flask"), "--app", "wsgi"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
VIEWPORT = {"width": 1366, "height": 768}
TIMEZONE = "Asia/Shanghai"
PASSWORD = "demo1234"
TIMEOUT_MS = 30_000
SERVER_START_SECONDS = 60
MARGIN = 16  # pixels kept above and below a part of a page


def say(text):
    print(text, flush=True)


# --- The data and the server -------------------------------------------------------------

def environment(folder):
    """The environment of every command and of the server: the throw-away database and
    data folder, plain http, no background warming of the figures."""
    env = dict(os.environ)
    for name in ("FLASK_APP", "FLASK_DEBUG", "FLASK_RUN_PORT", "FLASK_RUN_HOST", "ARREARS_JOBS_URL",
                 "ARREARS_PUBLIC_URL", "SECRET_KEY"):
        env.pop(name, None)
    env.update({"DATABASE_URL": f"sqlite:///{folder / 'arrears.sqlite3'}",  # sqlite:////tmp/…
                "ARREARS_DATA_DIR": str(folder / "data"), "ARREARS_DEVELOPMENT": "1",
                "ARREARS_WARM_FIGURES": "0", "ARREARS_TIMEZONE": TIMEZONE,
                "SECRET_KEY": secrets.token_hex(16), "PYTHONUNBUFFERED": "1"})
    return env


def run(command, env, what, must_succeed=True):
    say(f"{what} …")
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        if must_succeed:
            raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}")
        say(f"{what}: exit status {done.returncode}; its output:\n{done.stdout.rstrip()}")
    say(f"{what}: done in {time.monotonic() - started:.0f} s")
    return done.stdout


def load_demo(env):
    """init-db and demo; returns the demo's summary (it names the households it set up)."""
    run(FLASK + ["arrears", "init-db"], env, "flask arrears init-db")
    output = run(FLASK + ["arrears", "demo"], env, "flask arrears demo")
    found = re.search(r"payment plans: active (\S+)", output)
    if not found:
        raise SystemExit(f"the demo's summary does not name its active payment plan:\n{output}")
    return {"plan_ref": found.group(1).rstrip(","), "summary": output}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``flask --app wsgi run`` on a free port, in a process group of its own."""

    def __init__(self, env, log_path):
        self.env, self.log_path, self.process, self.url = env, log_path, None, None

    def start(self):
        for _attempt in range(3):  # another process may take the port before flask binds it
            port = free_port()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    FLASK + ["run", "--host", "127.0.0.1", "--port", str(port), "--no-reload", "--no-debugger",
                             "--with-threads"],
                    cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
            self.url = f"http://127.0.0.1:{port}"
            if self._healthy():
                say(f"serving on {self.url}")
                return self
            self.stop()
        raise SystemExit(f"the server did not start; its log:\n{self.log_tail()}")

    def _healthy(self):
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        return False

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        self.process = None


# --- The browser ---------------------------------------------------------------------------

class Shots:
    """The browser, one logged-in context per user, and the checks before each picture."""

    def __init__(self, playwright, base_url, out):
        self.base_url, self.out = base_url, out
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        self.pages = {}
        self.written = []

    def close(self):
        self.browser.close()

    def as_user(self, username):
        """A page logged in as ``username`` through the login form (CSRF token and all)."""
        if username not in self.pages:
            context = self.browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id=TIMEZONE)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.goto(self.base_url + "/login")
            page.fill("#username", username)
            page.fill("#password", PASSWORD)
            with page.expect_navigation():
                page.click("form:has(#password) button[type=submit]")
            if page.url.rstrip("/") != self.base_url:
                raise SystemExit(f"login as {username} failed: on {page.url}")
            self.pages[username] = page
        return self.pages[username]

    def open(self, username, path):
        page = self.as_user(username)
        response = page.goto(self.base_url + path)
        self.check(page, response, path)
        return page

    def check(self, page, response, what):
        if response is not None and response.status != 200:
            raise SystemExit(f"{what}: HTTP {response.status}")
        page.wait_for_load_state("networkidle")
        if page.locator("html").get_attribute("lang") != "zh-CN":
            raise SystemExit(f"{what}: the page is not in Chinese")
        if page.get_by_test_id("error-back").count():
            raise SystemExit(f"{what}: an error page: {page.locator('main').inner_text()[:300]}")

    def photograph(self, page, name, full_page=True, expect=(), part=None):
        """Check that ``expect`` (texts) are on the page, wait for the fonts, write the PNG:
        the whole page, the first screen (``full_page=False``) or, with ``part`` (a
        locator), the page's full width from just above that element to just below it."""
        body = page.locator("body").inner_text()
        for text in expect:
            if text not in body:
                raise SystemExit(f"{name}: {text!r} is not on {page.url}")
        page.evaluate("document.fonts.ready.then(() => true)")
        path = self.out / name
        clip = None
        if part is not None:
            page.evaluate("window.scrollTo(0, 0)")
            box = part.bounding_box()
            top = max(0, box["y"] - MARGIN)
            clip = {"x": 0, "y": top, "width": VIEWPORT["width"], "height": box["y"] + box["height"] + MARGIN - top}
        page.screenshot(path=str(path), full_page=full_page or clip is not None, clip=clip, animations="disabled")
        self.written.append(path)
        say(f"wrote {path} ({page.url.replace(self.base_url, '') or '/'})")


def find_household(page, base_url, ref):
    """Open the household ``ref`` (示例花园/1栋/1101) by searching the list for it."""
    _estate, building, unit = ref.split("/")
    page.goto(base_url + "/households/")
    box = page.get_by_test_id("household-search")
    box.fill(f"{building}{unit}")
    with page.expect_navigation():
        box.press("Enter")
    link = page.get_by_test_id("household-row").get_by_role("link", name=ref, exact=True)
    if link.count() != 1:
        raise SystemExit(f"the household list does not find {ref}")
    with page.expect_navigation():
        link.click()
    return page.url.replace(base_url, "")


def take(shots, demo):
    """The pictures, in the README's order."""
    base = shots.base_url

    # The overview, as the clerk sees it every morning.
    page = shots.open("clerk", "/")
    shots.photograph(page, "dashboard.png", expect=("总览", "账龄", "今日催收任务"))

    # The household list, sorted by amount owed (largest first): the first screen.
    page = shots.open("clerk", "/households/?sort=amount_desc")
    shots.photograph(page, "households.png", full_page=False, expect=("住户", "欠费合计"))

    # A household with plenty on it: the demo's active payment plan.
    page = shots.as_user("clerk")
    path = find_household(page, base, demo["plan_ref"])
    page = shots.open("clerk", path)
    shots.photograph(page, "household.png", expect=(demo["plan_ref"], "对账单", "处理记录", "分期"))

    # The work queue on the overview, with when to call (its first 20 households; /queue
    # lists them all, a page too long for a picture).
    page = shots.open("clerk", "/")
    shots.photograph(page, "work-queue.png", expect=("今日催收任务", "建议致电时段"),
                     part=page.locator("div.card", has=page.locator("#queue")))

    # The call guide beside the contact form: the first household on the work queue that
    # broke a promise, with the reason it gives chosen in the form.
    page = shots.open("clerk", "/queue")
    links = [a.get_attribute("href") for a in page.locator("[data-testid=queue-item] a").all()]
    for href in links:
        page = shots.open("clerk", href)
        if page.get_by_test_id("broken-promises").count() and page.get_by_test_id("call-guide").count():
            break
    else:
        raise SystemExit("no household on the work queue has broken a promise and a call guide")
    reason = page.locator("#contact-reason")
    choices = [o for o in reason.locator("option").all() if o.get_attribute("value")]
    if choices:
        reason.select_option(choices[0].get_attribute("value"))
    page.get_by_test_id("call-guide").scroll_into_view_if_needed()
    shots.photograph(page, "call-guide.png", expect=("催收话术", "禁止说的话", "记录催收联系"))

    # Staff performance and a clerk's commission statement, as manager.
    # The last whole month (the page opens on the current one, only days old).
    page = shots.open("manager", "/performance/")
    month = page.locator("#month")
    year, number = (int(part) for part in month.get_attribute("max").split("-"))
    year, number = (year - 1, 12) if number == 1 else (year, number - 1)
    month.fill(f"{year:04d}-{number:02d}")
    with page.expect_navigation():
        page.get_by_test_id("month-picker").get_by_role("button").click()
    shots.check(page, None, page.url)
    shots.photograph(page, "performance.png", expect=(f"{year:04d}-{number:02d} 业绩", "提成结算单"))
    link = page.locator("tr", has=page.get_by_role("cell", name="clerk", exact=True)).get_by_role(
        "link", name="提成结算单")
    with page.expect_navigation():
        link.click()
    shots.check(page, None, page.url)
    shots.photograph(page, "commission-statement.png", expect=("提成结算单", "归属的收款", "提成合计"))

    # The visit-sheet chooser with two buildings chosen.
    page = shots.open("manager", "/visits/")
    for building in ("1栋", "2栋"):
        page.get_by_label(building, exact=True).check()
    with page.expect_navigation():
        page.get_by_test_id("visit-preview").click()
    shots.check(page, None, page.url)
    shots.photograph(page, "visits.png", expect=("外访单", "应上门拜访"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the PNGs (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database, data folder and log")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    # As make run does: a text not translated yet is listed, and the catalog still built.
    run([str(VENV_BIN / "python"), "-m", "arrears.translations.build"], dict(os.environ),
        "compiling the Chinese catalog", must_succeed=False)
    folder = Path(tempfile.mkdtemp(prefix="arrears-screenshots-"))
    (folder / "data").mkdir()
    say(f"database and data folder in {folder}")
    env = environment(folder)
    server = Server(env, folder / "server.log")
    try:
        demo = load_demo(env)
        server.start()
        with sync_playwright() as playwright:
            shots = Shots(playwright, server.url, args.out.resolve())
            try:
                take(shots, demo)
            finally:
                shots.close()
    except BaseException:
        if server.process is not None:
            print(f"--- the server's log, last lines ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    say(f"{len(shots.written)} screenshots written:")
    for path in shots.written:
        say(f"  {path}")


if __name__ == "__main__":
    main()
