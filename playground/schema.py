"""JSON Schema of the spec format, generated from the pydantic models of the
registered layers, so editors validate and complete spec files.

    python -m playground.schema > spec.schema.json
    python -m playground.schema --out spec.schema.json

Spec files point at it with ``# yaml-language-server: $schema=../spec.schema.json``.
"""

from __future__ import annotations

import argparse
import json
import sys

from playground.fileio import atomic_write_text
from playground.registry import Registry, get_registry


def spec_json_schema(registry: Registry | None = None) -> dict:
    schema = (registry or get_registry()).spec_model().model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "playground spec"
    return schema


def schema_text(registry: Registry | None = None) -> str:
    return json.dumps(spec_json_schema(registry), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground.schema",
        description="Print or write the JSON Schema of the spec format.")
    parser.add_argument("--out", help="write to this file (atomically) instead of standard output")
    args = parser.parse_args(argv)
    text = schema_text()
    if args.out:
        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
