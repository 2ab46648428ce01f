"""``hybridsoa-mock``: ``serve`` the mock (HTTPS through granian), print the ``ca`` path, run a ``scenario``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

try:
    from . import server
    from .tls import ca_path, ensure_tls
except ModuleNotFoundError as _exc:  # the SDK alone was installed: the server's stack is the `mock` extra
    server = None
    _MISSING = _exc.name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybridsoa-mock",
        description="Local test double of Exchange Online, Entra ID and on-prem AD with Entra Connect.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the mock (HTTPS by default)")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8443, help="port (default 8443)")
    serve.add_argument(
        "--data-dir",
        default=None,
        help="keep tenants durably here, and the CA and server certificate "
        f"(without it: in memory, certificates under {server.DEFAULT_DATA_DIR})",
    )
    serve.add_argument("--seed", type=int, default=server.DEMO_SEED, help="seed of the demo tenant and registry")
    serve.add_argument(
        "--control-token",
        default=os.environ.get("HYBRIDSOA_CONTROL_TOKEN"),
        help="require 'Authorization: Bearer <token>' on /_mock (env HYBRIDSOA_CONTROL_TOKEN)",
    )
    serve.add_argument("--no-tls", action="store_true", help="plain HTTP (loopback only unless --insecure-bind)")
    serve.add_argument("--insecure-bind", action="store_true", help="allow plain HTTP on a non-loopback address")
    serve.add_argument("--no-demo", action="store_true", help="do not create the demo tenant")
    serve.add_argument(
        "--threads",
        type=int,
        default=server.DEFAULT_THREADS,
        help="most Python threads running requests (default %(default)s; the pool grows on demand, "
        "and a client that stalls mid-body holds one until it disconnects)",
    )
    serve.add_argument(
        "--ldap-port",
        type=int,
        default=None,
        metavar="PORT",
        help="also serve every tenant's on-prem AD over LDAP on PORT (LDAPS with the local CA, "
        "and StartTLS on the same port)",
    )
    serve.add_argument(
        "--proxy-port",
        type=int,
        default=None,
        metavar="PORT",
        help="also run an HTTPS proxy on PORT that answers for login.microsoftonline.com, "
        "graph.microsoft.com, outlook.office365.com and the national clouds: clients need "
        "only HTTPS_PROXY and the printed CA bundle",
    )
    serve.add_argument(
        "--synchronous",
        choices=("normal", "full"),
        default="normal",
        help="with --data-dir: 'normal' (default) keeps every acknowledged write through kill -9 or "
        "a crash of the server; 'full' also through power loss (an fsync per group commit)",
    )
    serve.add_argument(
        "--snapshot-max-bytes",
        type=int,
        default=None,
        metavar="BYTES",
        help="largest body PUT /_mock/tenants/{t}/snapshot accepts (default 2 GiB; env HYBRIDSOA_SNAPSHOT_MAX_BYTES); "
        "every other route stays at 32 MiB",
    )
    serve.add_argument(
        "--san",
        action="append",
        default=[],
        metavar="NAME",
        help="extra DNS name or IP for the server certificate (repeatable)",
    )

    ca = sub.add_parser("ca", help="print the path of the CA certificate clients must trust")
    ca.add_argument("--data-dir", default=server.DEFAULT_DATA_DIR)

    scenario = sub.add_parser("scenario", help="run a scenario file (see scenarios/)", add_help=False)
    scenario.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _serve(args) -> int:
    if args.port < 0 or args.port > 65535:
        print(f"hybridsoa-mock: invalid port {args.port}", file=sys.stderr)
        return 2
    if args.ldap_port is not None and not 0 <= args.ldap_port <= 65535:
        print(f"hybridsoa-mock: invalid LDAP port {args.ldap_port}", file=sys.stderr)
        return 2
    if args.proxy_port is not None:
        if not 0 <= args.proxy_port <= 65535:
            print(f"hybridsoa-mock: invalid proxy port {args.proxy_port}", file=sys.stderr)
            return 2
        if args.proxy_port:
            # Fail here with one line rather than in the engine's worker process.
            import socket

            socket.create_server((args.host, args.proxy_port)).close()
    if args.no_tls and not server.is_loopback(args.host) and not args.insecure_bind:
        print(
            f"hybridsoa-mock: refusing to serve plain HTTP on non-loopback address {args.host}; use TLS "
            "(the default) or pass --insecure-bind",
            file=sys.stderr,
        )
        return 2
    if args.snapshot_max_bytes is not None:
        if args.snapshot_max_bytes < 0:
            print(f"hybridsoa-mock: invalid --snapshot-max-bytes {args.snapshot_max_bytes}", file=sys.stderr)
            return 2
        os.environ["HYBRIDSOA_SNAPSHOT_MAX_BYTES"] = str(args.snapshot_max_bytes)  # read by the worker's app
    # One server per port and per data dir: the engine binds with SO_REUSEPORT, so a second `serve` on a busy port
    # would silently share its connections, and two processes writing one data dir lose each other's writes.
    # (A server killed a moment ago may still be exiting: its port and lock are given a few seconds to go.)
    problem = server.retry_for(
        5.0,
        lambda: (
            server.port_in_use(args.host, args.port)
            or (server.claim_data_dir(args.data_dir) if args.data_dir else None)
        ),
    )
    if problem:
        print(f"hybridsoa-mock: {problem}", file=sys.stderr)
        return 2
    options = server.ServeOptions(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        seed=args.seed,
        control_token=args.control_token or None,
        tls=not args.no_tls,
        demo=not args.no_demo,
        threads=max(1, args.threads),
        extra_names=args.san,
        ldap_port=args.ldap_port,
        proxy_port=args.proxy_port,
        synchronous=args.synchronous,
    )
    server.run_granian(options)
    return 0


def _ca(args) -> int:
    path = ca_path(args.data_dir)
    if not path.exists():
        ensure_tls(args.data_dir)
    print(path)
    return 0


def _scenario(args) -> int:
    try:
        runner = importlib.import_module("hybridsoa.mock.scenario_runner")
    except ModuleNotFoundError as exc:
        if exc.name != "hybridsoa.mock.scenario_runner":
            raise
        print(
            "hybridsoa-mock: scenarios are not available in this build (hybridsoa.mock.scenario_runner is missing)",
            file=sys.stderr,
        )
        return 2
    result = runner.main(list(args.args))
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hybridsoa-mock`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if server is None:
        print(
            f"hybridsoa-mock: the mock server is not installed ({_MISSING} is missing): pip install 'hybridsoa[mock]'",
            file=sys.stderr,
        )
        return 2
    if argv[:1] == ["scenario"]:
        # Everything after "scenario" belongs to the scenario runner, options included.
        try:
            return _scenario(argparse.Namespace(args=argv[1:]))
        except KeyboardInterrupt:
            print("hybridsoa-mock scenario: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - never a traceback: one line naming the failure
            print(f"hybridsoa-mock scenario: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
            return 1
    args = _parser().parse_args(argv)
    handlers = {"serve": _serve, "ca": _ca, "scenario": _scenario}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print(f"hybridsoa-mock {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # e.g. the port is taken, the data dir is not writable
        where = f" {exc.filename}:" if getattr(exc, "filename", None) else ""
        print(f"hybridsoa-mock {args.command}:{where} {exc.strerror or exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # noqa: BLE001 - never a traceback: one line naming the failure
        print(f"hybridsoa-mock {args.command}: {type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
