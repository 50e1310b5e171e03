"""Prototypes of the addon changes proposed by the benchmark, applied by monkeypatching in a runner process.

    python tests/e2e/odoo_worker.py ... --patch bench/experiments.py:urllib3_sender
    python bench/benchmark.py --experiments

NOT addon code: they exist to measure what a change would bring before
anyone writes it properly (with tests) in postback_connector/engine/http.py.

* ``urllib3_sender``: HttpSender sends through ``urllib3.HTTPConnectionPool``
  (one per lane, as the requests sessions are today) instead of
  ``requests.Session``: same timeouts, no redirects, no proxies/cookies,
  body read up to max_body. requests costs ~2x the CPU per request
  (Session.request -> prepare -> merge_environment_settings -> adapters ->
  urllib3), and the runner is CPU (GIL) bound.

(A ``host_breaker`` prototype, the per-batch circuit breaker kept across
batches, was measured here too; the addon now has it: commit ab919f6.)
"""

import time

from odoo.addons.postback_connector.engine import http


def urllib3_sender():
    import urllib3  # noqa: PLC0415

    def _new_session(self, origin):
        scheme, host, port = origin
        cls = urllib3.HTTPSConnectionPool if scheme == "https" else urllib3.HTTPConnectionPool
        pool = cls(host, port, maxsize=1, block=False, retries=False)
        pool.default_headers = {"User-Agent": self.user_agent, "Accept": "*/*", "Accept-Encoding": "identity"}
        return pool

    def _send_one(self, session, request):
        started = time.perf_counter()

        def failed(message, trip):
            outcome = http.Outcome(request.key, None, error=message, duration_ms=(time.perf_counter() - started) * 1000)
            if trip:
                raise http._BreakerTripped(outcome)
            return outcome

        parts = http.urlsplit(request.url)
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        headers = dict(session.default_headers)
        headers.update(request.headers)
        try:
            response = session.urlopen(
                request.method,
                target,
                body=request.body,
                headers=headers,
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(connect=request.connect_timeout, read=request.timeout),
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.ConnectTimeoutError:
            return failed(f"Timed out after {http._seconds(request.connect_timeout)} while connecting", True)
        except urllib3.exceptions.ReadTimeoutError:
            return failed(f"Timed out after {http._seconds(request.timeout)} waiting for the response", True)
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ProtocolError, OSError) as exc:
            return failed(http._connection_error_text(exc), True)
        except urllib3.exceptions.HTTPError as exc:
            return failed(f"Invalid response: {exc}", False)
        try:
            raw = response.read(self.max_body + 1)
            text = http._decode(raw[: self.max_body], response.headers.get("Content-Type"))
            if len(raw) > self.max_body:
                text += http.TRUNCATED_MARKER.format(max_body=self.max_body)
            error = None
        except urllib3.exceptions.HTTPError as exc:
            text, error = "", f"Invalid response: the answer could not be read ({type(exc).__name__})"
        finally:
            response.release_conn()
        return http.Outcome(
            request.key,
            response.status,
            dict(response.headers),
            text,
            (time.perf_counter() - started) * 1000,
            error,
            response.headers.get("Retry-After"),
        )

    http.HttpSender._new_session = _new_session
    http.HttpSender._send_one = _send_one
