"""`archiver serve` behind a real reverse proxy: nginx (the Debian package)
in front of the interface, under a path, and of replay, on an origin of
its own, with the names people use (`--base-url`, `--replay-base-url`).
Skipped only where nginx is not installed."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from archiver import Archive

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()),
                                      None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, *, headers: dict[str, str] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, trust_env=False, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"exited: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


NGINX_CONF = """
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{front};
    server_name archive.test;
    location /archiver/ {{
      proxy_pass http://127.0.0.1:{ui}/;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
  server {{
    listen 127.0.0.1:{replay_front};
    server_name replay.test;
    location / {{
      proxy_pass http://127.0.0.1:{replay};
      proxy_set_header Host $http_host;
    }}
  }}
}}
"""


@pytest.fixture
def behind_nginx(fresh_site, tmp_path, fast_options, clock):
    from ferrypages import captured_ferry

    archive = Archive(tmp_path / "arch", fetch_options=fast_options, clock=clock)
    url = captured_ferry(archive, fresh_site, clock)
    ui, replay, front, replay_front = free_port(), free_port(), free_port(), free_port()
    base, replay_base = f"http://archive.test:{front}/archiver/", f"http://replay.test:{replay_front}"
    serve = subprocess.Popen([sys.executable, "-m", "archiver", "serve", "--archive", str(archive.path),
                              "--port", str(ui), "--replay-port", str(replay), "--base-url", base,
                              "--replay-base-url", replay_base],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conf_dir = tmp_path / "nginx"
    conf_dir.mkdir()
    conf = conf_dir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=conf_dir, front=front, replay_front=replay_front, ui=ui, replay=replay,
                                      user="user root;" if os.geteuid() == 0 else ""))
    proxy = None
    try:
        wait_for(f"http://127.0.0.1:{ui}/healthz", serve)
        wait_for(f"http://127.0.0.1:{replay}/", serve)
        proxy = subprocess.Popen([NGINX, "-p", str(conf_dir), "-c", str(conf), "-g", "daemon off;"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(f"http://127.0.0.1:{front}/archiver/healthz", proxy, headers={"Host": f"archive.test:{front}"})
        yield {"url": url, "front": front, "replay_front": replay_front, "base": base, "replay_base": replay_base}
    finally:
        for proc in (proxy, serve):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)


def get(port: int, host: str, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Host": f"{host}:{port}"}, trust_env=False, timeout=20)


def test_the_interface_and_replay_behind_nginx_use_the_names_people_reach_them_by(behind_nginx):
    front, replay_front, url = behind_nginx["front"], behind_nginx["replay_front"], behind_nginx["url"]
    dashboard = get(front, "archive.test", "/archiver/")
    assert dashboard.status_code == 200
    links = re.findall(r'(?:href|action|src)="([^"]+)"', dashboard.text)
    inner = [link for link in links if link.startswith("/")]
    assert inner and all(link.startswith("/archiver/") for link in inner), inner  # every link under the path
    for link in ("/archiver/static/app.css", "/archiver/static/app.js"):
        assert link in links and get(front, "archive.test", link).status_code == 200
    timeline_link = next(link for link in inner if link.startswith("/archiver/timeline?"))
    timeline = get(front, "archive.test", timeline_link.replace("&amp;", "&"))
    assert timeline.status_code == 200 and url in timeline.text
    replay_links = re.findall(r'href="(http://replay\.test:\d+/archive/[^"]+)"', timeline.text)
    assert replay_links, "replay links use --replay-base-url"
    replayed = get(replay_front, "replay.test", replay_links[0].split(f":{replay_front}", 1)[1])
    assert replayed.status_code == 200
    feed = get(front, "archive.test", "/archiver/feed.atom").text
    assert f"{behind_nginx['base']}diff?" in feed or f"{behind_nginx['base']}snapshot?" in feed
    # A name the server was not told of is refused, even through the proxy (DNS rebinding).
    assert get(front, "evil.example", "/archiver/").status_code == 400
