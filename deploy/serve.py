"""Several app servers behind one address: `make serve` (or `python -m deploy.serve`).

One Streamlit process draws every session's page in one Python interpreter, so its pages use about
one core however many the machine has (four labs' training goes to its live
engines, core/engines.py). A class that outgrows it gets N processes (one per core by default) on
127.0.0.1:FIRST_PORT.., the machine's cores shared out as their engines (GP_LIVE_PROCESSES, unless
set: cores // N, at least 1), and nginx (Debian's `nginx` package) on one address in front of
them, with sticky sessions: a browser's first request gets a random key in the cookie gp_server, and
nginx sends every request with that key, its websocket included, to the same server (see
deploy/nginx.conf.template). Every server gets the same cookie secret, so a student whose cookie
is lost lands on another server with a fresh page and nothing refused.

Ctrl-C (or SIGTERM) stops nginx and every server. For several machines, see deploy/README.md.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.processes import usable_cores
from deploy import appserver

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("nginx.conf.template")
NO_NGINX = (
    "nginx is not installed: install Debian's package (`sudo apt-get install nginx`), "
    "or run a single server with `make run`."
)


def render(prefix: Path, listen: str, ports: list[int]) -> str:
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=0;" for port in ports)
    text = TEMPLATE.read_text()
    return text.replace("@PREFIX@", str(prefix)).replace("@LISTEN@", listen).replace("@SERVERS@", servers)


def engines_each(servers: int) -> str:
    """Each server's live engines: GP_LIVE_PROCESSES when set, else the usable cores shared out among
    the servers (at least one each: a server without engines trains between its own redraws)."""
    return os.environ.get("GP_LIVE_PROCESSES") or str(max(1, usable_cores() // max(1, servers)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--servers", type=int, default=os.cpu_count() or 1, help="app processes (default: cores)"
    )
    parser.add_argument("--listen", default="8501", help="nginx's address: a port, or host:port")
    parser.add_argument("--first-port", type=int, default=8601, help="the app servers' ports start here")
    parser.add_argument("--prefix", default=str(ROOT / ".serve"), help="nginx's config, logs and pid file")
    args = parser.parse_args(argv)
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        print(NO_NGINX, file=sys.stderr)
        return 2
    prefix = Path(args.prefix).resolve()
    for sub in ("", "body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    ports = [args.first_port + i for i in range(max(1, args.servers))]
    (prefix / "nginx.conf").write_text(render(prefix, args.listen, ports))
    secret = secrets.token_hex(32)  # the same on every server: a cookie made by one is good on all
    env = {"STREAMLIT_SERVER_COOKIE_SECRET": secret, "GP_LIVE_PROCESSES": engines_each(len(ports))}
    procs = [appserver.start(port, prefix / f"app-{port}.log", env=env) for port in ports]
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    try:
        deadline = time.monotonic() + 120
        while not all(appserver.healthy(f"http://127.0.0.1:{port}/_stcore/health") for port in ports):
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                print(f"an app server did not start; see {prefix}/app-*.log", file=sys.stderr)
                return 1
            time.sleep(0.5)
        web = subprocess.Popen(
            [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")], start_new_session=True
        )
        procs.append(web)
        time.sleep(0.5)
        if web.poll() is not None:
            print(f"nginx did not start; see {prefix}/error.log", file=sys.stderr)
            return 1
        where = args.listen if ":" in args.listen else f"localhost:{args.listen}"
        print(f"Gradient Playground: {len(ports)} servers behind http://{where} (Ctrl-C stops)", flush=True)
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.5)
        if not stopping:
            print("a server stopped; stopping the others", file=sys.stderr)
            return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        appserver.stop(*procs)


if __name__ == "__main__":
    sys.exit(main())
