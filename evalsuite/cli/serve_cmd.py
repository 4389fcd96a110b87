"""`evalsuite serve`: serve a model as an OpenAI-compatible endpoint."""

from __future__ import annotations

import os

from evalsuite.cli.options import add_backend_arguments, backend_options


def add_parser(subparsers):
    parser = subparsers.add_parser("serve", help="serve a local checkpoint as an OpenAI-compatible HTTP endpoint")
    parser.add_argument("--model", required=True, help="checkpoint directory or Hub id")
    parser.add_argument("--name", help="model name clients use (default: the --model value)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    key = parser.add_mutually_exclusive_group()
    key.add_argument("--api-key-env", metavar="VAR", help="require 'Authorization: Bearer <key>', the key read from $VAR")
    key.add_argument("--api-key", help="require this bearer key (visible to other users in `ps`: prefer --api-key-env)")
    limits = parser.add_argument_group("limits (requests beyond them are refused with a 4xx)")
    limits.add_argument("--max-body-bytes", type=int, help="largest request body (default 1 MiB; larger: 413)")
    limits.add_argument("--max-tokens", type=int, help="largest max_tokens a request may ask for (default 4096)")
    limits.add_argument("--max-n", type=int, help="most choices (n) per request (default 16)")
    limits.add_argument("--max-waiting", type=int, help="requests that may wait while one generates (default 8; more: 429)")
    add_backend_arguments(parser, aliases=("--revision", "--dtype", "--device", "--threads", "--trust-remote-code"))
    parser.set_defaults(func=run)
    return parser


def api_key(args) -> str | None:
    """The key clients must send, from ``--api-key`` or the variable ``--api-key-env`` names; None: no key."""
    from evalsuite.errors import ConfigError

    if args.api_key_env:
        value = os.environ.get(args.api_key_env)
        if not value:
            raise ConfigError(f"--api-key-env {args.api_key_env}: that environment variable is not set or empty; "
                              f"export {args.api_key_env}=<key> first")
        return value
    if args.api_key is not None and not args.api_key:
        raise ConfigError("--api-key is empty; give a key, or leave the option out to serve without one")
    return args.api_key


def run(args) -> int:
    from evalsuite.config import validate
    from evalsuite.errors import ConfigError

    try:
        import uvicorn
    except ImportError:
        raise ConfigError("serving needs FastAPI and uvicorn: pip install 'evalsuite[serve]'") from None
    from evalsuite.backends import load_backend
    from evalsuite.serve import ServeLimits, create_app

    given = {"max_body_bytes": args.max_body_bytes, "max_tokens": args.max_tokens, "max_n": args.max_n,
             "max_waiting": args.max_waiting}
    limits = validate(ServeLimits, {k: v for k, v in given.items() if v is not None}, "serve limits")
    key = api_key(args)
    backend = load_backend(args.backend, backend_options(args))
    if not backend.capabilities.generate:
        raise ConfigError(f"backend {args.backend!r} cannot generate text, so it cannot be served; use --backend hf")
    app = create_app(backend, args.name or args.model, limits=limits, api_key=key)
    print(f"serving {args.model} as {args.name or args.model} on http://{args.host}:{args.port}/v1"
          f" ({'API key required' if key else 'no API key'})", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        backend.close()
    return 0
