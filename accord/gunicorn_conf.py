"""Every setting of the web server, in one place.

The Procfile, docker-compose.yml, the benchmarks, the tests and CI's smoke all start the web server the same way:

    gunicorn --config python:accord.gunicorn_conf --bind ADDRESS

and pass nothing else. What differs between those places comes from the environment variables read here (each
is listed in .env.example), through accord.env's readers, so a bad value stops gunicorn at start-up with the
variable's name instead of quietly running with a default.

Gunicorn reads every lower-case module-level name that is one of its settings and silently ignores the rest, so
a misspelt setting would be lost without a word: tests/accord/test_server_config.py checks the names.
"""

from pathlib import Path
from typing import Any

from accord.env import env_bool, env_int, env_list, env_str

wsgi_app = "accord.wsgi:application"

# Threads, not the sync worker: a sync worker serves one connection at a time, so one slow client holds it for
# the whole timeout, and it cannot keep connections alive between a gateway's decisions. A gthread worker parks
# idle connections in its poller (a client that sends nothing for 5 s goes back to the poller) and hands a thread
# to a connection once its first bytes arrive. Requests spend most of their time waiting on PostgreSQL and Redis,
# with the GIL released; the decision itself is microseconds under the snapshot's lock, which the policy
# listener thread already shares with requests in every worker.
# A thread then reads the request, so a slow client holds one: accord/wsgi_limits.py bounds that. Its gthread
# worker stops accepting while all its threads are taken (plain gthread queued new requests behind held
# threads while the next worker sat idle), and accord/wsgi.py reads each body within ACCORD_WEB_BODY_TIMEOUT.
worker_class = "accord.wsgi_limits.ThreadWorker"
# Each worker process holds its own policy snapshot (about 200 MB per 100,000 grants) and loads it at start.
workers = env_int("ACCORD_WEB_WORKERS", 2, minimum=1, maximum=64)
# Each thread keeps its own database connection (ACCORD_DB_CONN_MAX_AGE): workers x threads per web server.
threads = env_int("ACCORD_WEB_THREADS", 4, minimum=1, maximum=64)
# The app is imported in each worker after the fork, never in the master: no database connection, Redis client
# or policy listener thread is ever shared across a fork (post_worker_init below starts each worker's own).
preload_app = False
# A worker is never recycled: each new one would load the whole policy again, and nothing here leaks.
max_requests = 0

# A worker whose main loop stops answering the master for this long is killed and replaced. With gthread that
# loop runs apart from requests, so this catches a wedged process, not a slow request. It also bounds a worker's
# start, which loads the policy (about 3 s per 100,000 grants): 60 s leaves room for a large deployment.
timeout = 60
# After SIGTERM a worker may finish what it is serving for this long: far above a decision (milliseconds) or a
# 1,000-item batch (about a second), room for a large page or an artefact upload. docker-compose.yml gives web
# 30 s (stop_grace_period) before it kills the container, so gunicorn always finishes its own shutdown first.
graceful_timeout = 25
# Seconds an idle connection is kept open for its next request. Longer than the idle timeout of the proxies that
# usually stand in front (nginx's upstream keepalive and cloud load balancers: 60 s), so that the proxy, not
# gunicorn, closes an idle connection: otherwise a decision POSTed just as gunicorn closes fails as a 502.
# An idle connection costs a socket in the worker's poller, not a thread.
keepalive = 75

# Request limits, checked before Django sees anything. A request over them is answered by gunicorn, in its own
# short HTML page (414 for the request line, 431 for headers), even under /api/: docs/integration-guide.md says
# so, and the proxy in docker-compose.yml (deploy/nginx/) answers these in the API's error shape itself.
# The longest URLs Accord serves are a trail search or a bundle diff (two 64-character hashes): a few hundred
# bytes. The line may be as long as gunicorn allows (8190) and as nginx's header buffers (8 KiB), so that a
# long URL reaches Django, which answers it in the API's error shape (an unknown path is a JSON 404).
limit_request_line = 8190
# Browsers and partner gateways send fewer than 20 headers and a proxy adds a handful (X-Forwarded-*, X-Real-IP).
limit_request_fields = 50
# The largest header is Cookie (session, CSRF and Django's messages cookie, which stays under 2 KiB) or a bearer
# token (under 100 bytes): 8 KiB, gunicorn's default, is plenty and bounds what a header may cost.
limit_request_field_size = 8190

# X-Forwarded-Proto and the like are believed only from these addresses (a proxy on the same host). A proxy in
# another container is better served by DJANGO_TRUST_X_FORWARDED_PROTO, which Django applies itself.
forwarded_allow_ips = ",".join(env_list("ACCORD_FORWARDED_ALLOW_IPS", ["127.0.0.1"]))

# gunicorn's management socket lets anyone with access to it resize or stop the server; nothing here uses it.
control_socket_disable = True

# The worker heartbeat file is touched constantly: on a disk-backed (container overlay) filesystem that can
# block a worker, so it lives in memory where there is a /dev/shm (Linux; elsewhere the default temp dir).
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108 (gunicorn's documented advice)

# Logs go to the process's stdout/stderr, where docker and honcho collect them. The access log line carries the
# request id that the trail stores with every event (audit/middleware.py), and the time taken.
accesslog = "-" if env_bool("ACCORD_WEB_ACCESS_LOG", True) else None
access_log_format = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'
errorlog = "-"
loglevel = env_str("ACCORD_LOG_LEVEL", "INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")).lower()


def post_worker_init(worker: Any) -> None:
    """Each web worker loads its policy snapshot and subscribes to changes before it takes a request."""
    from governance.policy import live

    live.start()
