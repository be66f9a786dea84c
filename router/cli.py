"""The ``router`` command: run roles, publish, tail, show settings, manage dead letters."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from router import replaycmd
from router.config.envcheck import SettingsError
from router.config.secrets import SecretsKeyError
from router.config.settings import Settings
from router.dlqcmd import cmd_dlq
from router.logging import configure, mask_url, quiet_libraries
from router.roles import NAMES as ROLES

DEFAULT_ENV_FILE = ".env"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="router", description=__doc__)
    p.add_argument(
        "--env-file",
        default=None,
        help="dotenv file to read (default .env, if present; /dev/null for none)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve the HTTP API and every enabled adapter")
    run.add_argument(
        "--only",
        action="append",
        choices=ROLES,
        metavar="ROLE",
        help=f"run only this role ({', '.join(ROLES)}); repeatable",
    )

    pub = sub.add_parser("publish", help="publish one event and wait for the broker's confirm")
    pub.add_argument("instance")
    pub.add_argument("event")
    pub.add_argument("--data", default="{}", help="the event's data as JSON (default {})")
    pub.add_argument("--id", help="event id (default: a new UUIDv7)")
    pub.add_argument("--sender")

    tail = sub.add_parser("tail", help="print live events whose routing key matches PATTERN")
    tail.add_argument(
        "patterns", nargs="*", metavar="PATTERN", help="e.g. 'my-instance.#' or '*.messages.upsert'"
    )
    tail.add_argument(
        "--instance",
        action="append",
        default=[],
        help="every event of this instance, by its real name (e.g. 'Loja Centro'); repeatable",
    )
    tail.add_argument("--count", type=int, help="stop after this many events")
    tail.add_argument("--timeout", type=float, help="stop after this many seconds")
    fmt = tail.add_mutually_exclusive_group()
    fmt.add_argument(
        "--json",
        dest="style",
        action="store_const",
        const="json",
        help="each event's JSON on one line (the default when not in a terminal)",
    )
    fmt.add_argument(
        "--pretty", dest="style", action="store_const", const="pretty", help="indented JSON"
    )

    cfg = sub.add_parser("config", help="print the effective settings, secrets masked")
    cfg.add_argument("--json", action="store_true", help="as JSON")
    cfg.add_argument(
        "--example", action="store_true", help="print .env.example (every setting, defaults)"
    )

    sub.add_parser(
        "openapi", help="print the API document (OpenAPI 3.1) of every path, as docs/openapi.json"
    )

    topo = sub.add_parser("topology", help="the exchanges, queues and bindings the settings imply")
    topo.add_argument(
        "--definitions",
        action="store_true",
        help="as RabbitMQ definitions JSON, to provision the broker (rabbitmqctl import_definitions)",
    )
    topo.add_argument(
        "--user", default="evrouter", help="the least-privilege user the definitions create"
    )
    topo.add_argument(
        "--no-user",
        action="store_true",
        help="leave the user and its permissions out (importing them again resets the password)",
    )

    dlq = sub.add_parser("dlq", help="dead-letter queues: list, replay, purge")
    dsub = dlq.add_subparsers(dest="action", required=True)
    for action, text in (
        ("list", "show dead letters (left in place)"),
        ("replay", "send dead letters back for delivery, same event ids"),
        ("purge", "delete every dead letter"),
    ):
        a = dsub.add_parser(action, help=text)
        a.add_argument(
            "queue",
            nargs="?" if action == "list" else None,
            help="a role (ingest, webhook, sqs, pusher) or a queue name ending in .dlq",
        )
        if action != "purge":
            a.add_argument("--limit", type=int, default=None)
        else:
            a.add_argument("--yes", action="store_true", help="really purge")
    replaycmd.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "config" and args.example:
        from router.config.envexample import render

        sys.stdout.write(render())
        return
    if args.command == "openapi":
        from router.apidoc import full_document

        configure("ERROR", "json")  # the application is made, not run: its notes are noise
        sys.stdout.write(full_document())
        return
    env_file = DEFAULT_ENV_FILE if args.env_file is None else args.env_file
    if args.env_file is not None and not os.path.exists(env_file):
        sys.exit(f"router: --env-file {env_file}: no such file")
    try:
        settings = Settings.load(env_file)
    except (SettingsError, ValueError) as exc:
        sys.exit(f"router: settings refused: {exc}")
    configure(settings.log.level, settings.log.format)
    handlers = {
        "run": cmd_run,
        "publish": cmd_publish,
        "tail": cmd_tail,
        "config": cmd_config,
        "topology": cmd_topology,
        "dlq": cmd_dlq,
        "replay": replaycmd.cmd_replay,
    }
    try:
        code = handlers[args.command](settings, args)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # output piped into head and the like
        code = 0
    sys.exit(code)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from aiohttp import web

    from router.app import create_app
    from router.http.appkeys import ROLES

    try:
        app = create_app(settings, args.only)
    except ValueError as exc:
        print(f"router: {exc}", file=sys.stderr)
        return 2
    host, port = settings.server.host, settings.server.port
    where = f"http://{host}:{port}"
    roles: list[str] = app[ROLES]
    try:
        web.run_app(
            app,
            host=host,
            port=port,
            access_log=None,
            # Once listening: where, and what runs here.
            print=lambda _: print(
                f"router: listening on {where}, roles: {', '.join(roles)}", file=sys.stderr
            ),
            loop=new_event_loop(),
        )
    except OSError as exc:
        print(f"router: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except SecretsKeyError as exc:
        print(f"router: {exc}", file=sys.stderr)
        return 2
    return 0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the ``fast`` extra): the same code, fewer cycles per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    quiet_libraries()
    from router.amqp.broker import Broker, BrokerUnavailable
    from router.amqp.publisher import Publisher, PublishFailed
    from router.app import enabled_adapters, topology_for
    from schemas import build_envelope

    try:
        data = orjson.loads(args.data)
    except orjson.JSONDecodeError as exc:
        print(f"router: --data is not valid JSON: {exc}", file=sys.stderr)
        return 2

    try:  # checked before connecting: a bad name needs no broker to be refused
        envelope = build_envelope(
            args.instance,
            args.event,
            data,
            id=args.id,
            sender=args.sender,
            server_url=settings.server.url or None,
        )
    except ValueError as exc:
        print(f"router: refused: {reason_of(exc)}", file=sys.stderr)
        return 2

    async def go() -> int:
        broker = Broker(
            settings.rabbitmq.uri.get_secret_value(),
            name="router-cli",
            provisioned=settings.rabbitmq.provisioned,
        )
        publisher = Publisher(
            broker,
            topology_for(settings, enabled_adapters(settings)),
            timeout=settings.router.publish_timeout_seconds,
        )
        broker.add_setup(publisher.setup)
        await broker.start()
        try:
            await broker.wait_ready(15)
            await publisher.publish_envelope(envelope)
        except TimeoutError:
            print(f"router: RabbitMQ at {mask_url(broker.url)} did not answer", file=sys.stderr)
            return 3
        except PublishFailed as exc:
            # It may have reached RabbitMQ: only the same id makes a second try safe.
            print(f"router: not confirmed: {exc}; retry with --id {envelope.id}", file=sys.stderr)
            return 3
        except BrokerUnavailable as exc:
            print(f"router: not published: {exc}", file=sys.stderr)
            return 3
        finally:
            await broker.close()
        print(orjson.dumps({"id": envelope.id}).decode())
        return 0

    return asyncio.run(go())


def reason_of(error: ValueError) -> str:
    """A refusal on one line: pydantic's are several."""
    from pydantic import ValidationError

    from router.http.requests import validation_problems

    if isinstance(error, ValidationError):
        return validation_problems(error)
    return " ".join(str(error).split())


def cmd_tail(settings: Settings, args: argparse.Namespace) -> int:
    quiet_libraries()
    import aiormq
    from rich.console import Console

    from router.amqp.tail import Style, tail
    from schemas import instance_word

    # Routing keys know an instance by its word (schemas.instance): a name with a space or a
    # dot could not be written in a pattern.
    patterns = [*args.patterns, *(f"{instance_word(name)}.#" for name in args.instance)]
    if not patterns:
        print("router tail: give a PATTERN or --instance NAME", file=sys.stderr)
        return 2
    # In a terminal, a line per event, coloured; otherwise JSON, for the next program.
    style: Style = args.style or ("line" if sys.stdout.isatty() else "json")
    write = Console(highlight=False, soft_wrap=True).print if style == "line" else print
    url = settings.rabbitmq.uri.get_secret_value()
    try:
        asyncio.run(
            tail(
                url,
                settings.rabbitmq.exchange_name,
                patterns,
                count=args.count,
                timeout=args.timeout,
                style=style,
                write=write,
                passive=settings.rabbitmq.provisioned,
            )
        )
    except (aiormq.exceptions.AMQPError, OSError) as exc:
        print(f"router: cannot tail through RabbitMQ at {mask_url(url)}: {exc}", file=sys.stderr)
        return 3
    return 0


def masked_settings(settings: Settings) -> dict[str, dict[str, Any]]:
    from pydantic import SecretStr

    from router.config.envexample import env_value

    out: dict[str, dict[str, Any]] = {}
    for family, values in settings.items():
        section: dict[str, Any] = {}
        for env_name, name, _ in type(values).env_names():
            value = getattr(values, name)
            if isinstance(value, SecretStr):
                secret = value.get_secret_value()
                text = mask_url(secret) if "://" in secret else ("***" if secret else "")
            else:
                text = mask_url(env_value(value))
            section[env_name] = text
        out[family] = section
    return out


def cmd_config(settings: Settings, args: argparse.Namespace) -> int:
    shown = masked_settings(settings)
    if args.json:
        print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
        return 0
    for family, section in shown.items():
        print(f"# {family}")
        for name, value in section.items():
            print(f"{name}={value}")
    return 0


def cmd_topology(settings: Settings, args: argparse.Namespace) -> int:
    from router.definitions import definitions, listing, render

    found = definitions(settings, args.user)
    if args.no_user:
        found = {**found, "users": [], "permissions": []}
    if args.definitions:
        sys.stdout.write(render(found))
    else:
        print("\n".join(listing(found)))
    return 0
