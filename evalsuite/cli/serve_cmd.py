"""`evalsuite serve`: serve a local checkpoint as an OpenAI-compatible endpoint."""

from __future__ import annotations


def add_parser(subparsers):
    parser = subparsers.add_parser("serve", help="serve a local checkpoint as an OpenAI-compatible HTTP endpoint")
    parser.add_argument("--model", required=True, help="checkpoint directory or Hub id")
    parser.add_argument("--name", help="model name clients use (default: the --model value)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--trust-remote-code", action="store_true", help="run code shipped with the checkpoint (only if you trust it)")
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

    options = {"model": args.model, "trust_remote_code": args.trust_remote_code}
    if args.threads:
        options["threads"] = args.threads
    backend = load_backend("hf", options)
    app = create_app(backend, args.name or args.model)
    print(f"serving {args.model} as {args.name or args.model} on http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
