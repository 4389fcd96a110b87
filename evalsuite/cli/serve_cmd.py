"""`evalsuite serve`: serve a model as an OpenAI-compatible endpoint."""

from __future__ import annotations

from evalsuite.cli.options import add_backend_arguments, backend_options


def add_parser(subparsers):
    parser = subparsers.add_parser("serve", help="serve a local checkpoint as an OpenAI-compatible HTTP endpoint")
    parser.add_argument("--model", required=True, help="checkpoint directory or Hub id")
    parser.add_argument("--name", help="model name clients use (default: the --model value)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    add_backend_arguments(parser, aliases=("--revision", "--dtype", "--device", "--threads", "--trust-remote-code"))
    parser.set_defaults(func=run)
    return parser


def run(args) -> int:
    from evalsuite.errors import ConfigError

    try:
        import uvicorn
    except ImportError:
        raise ConfigError("serving needs FastAPI and uvicorn: pip install 'evalsuite[serve]'") from None
    from evalsuite.backends import load_backend
    from evalsuite.serve import create_app

    backend = load_backend(args.backend, backend_options(args))
    if not backend.capabilities.generate:
        raise ConfigError(f"backend {args.backend!r} cannot generate text, so it cannot be served; use --backend hf")
    app = create_app(backend, args.name or args.model)
    print(f"serving {args.model} as {args.name or args.model} on http://{args.host}:{args.port}/v1", flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        backend.close()
    return 0
