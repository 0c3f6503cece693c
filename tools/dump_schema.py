"""Write the JSON schema of a trace `Span` (what each tracer websocket message is).

Usage: ``python tools/dump_schema.py [--out FILE]`` (stdout by default). The tracer serves the
same schema at ``GET /schema.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("actorbus") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actorbus._tracer.websocket import schema_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args()
    data = schema_json() + b"\n"
    if args.out is None:
        sys.stdout.write(data.decode())
    else:
        args.out.write_bytes(data)


if __name__ == "__main__":
    main()
