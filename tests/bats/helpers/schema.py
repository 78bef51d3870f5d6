#!/usr/bin/python3
"""schema.py [--lines] SCHEMA [FILE]: validate one JSON document (FILE, or
stdin) against a JSON Schema (draft 2020-12) from the repository's schema/
dir (or $VS_SCHEMA_DIR: the installed copies under make installcheck);
with --lines, every line of FILE as a document of its own (the proxy's
--json log).

SCHEMA is a file name or a bare name ("inspect" -> schema/inspect.schema.json).
References to the other files ("common.schema.json#/$defs/state") resolve
beside it, as they do for the installed copies.
Exit 0 when valid; 1 with every violation on stderr otherwise.  Debian's
python3-jsonschema is used (test-time only), hence /usr/bin/python3."""
import json
import os
import sys
from pathlib import Path

from jsonschema import Draft202012Validator, RefResolver


def schema_path(name):
    if os.path.sep in name or name.endswith(".json"):
        return name
    # VS_SCHEMA_DIR: the installed schemas under make installcheck
    schemas = os.environ.get("VS_SCHEMA_DIR")
    if not schemas:
        src = os.environ.get("VS_SRCDIR", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
        schemas = os.path.join(src, "schema")
    return os.path.join(schemas, name + ".schema.json")


def main():
    lines = len(sys.argv) > 1 and sys.argv[1] == "--lines"
    if lines:
        del sys.argv[1]
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: schema.py [--lines] SCHEMA [FILE]")
    path = os.path.abspath(schema_path(sys.argv[1]))
    store = {}
    for name in os.listdir(os.path.dirname(path)):
        if name.endswith(".schema.json"):
            other = os.path.join(os.path.dirname(path), name)
            with open(other) as f:
                store[Path(other).as_uri()] = json.load(f)
            Draft202012Validator.check_schema(store[Path(other).as_uri()])
    schema = store[Path(path).as_uri()]
    resolver = RefResolver(base_uri=Path(path).as_uri(), referrer=schema, store=store)
    text = open(sys.argv[2]).read() if len(sys.argv) == 3 else sys.stdin.read()
    validator = Draft202012Validator(schema, resolver=resolver)
    bad = 0
    for n, part in enumerate(text.splitlines() if lines else [text], 1):
        where = "line %d: " % n if lines else ""
        try:
            doc = json.loads(part)
        except ValueError as e:
            print("%snot one JSON document: %s" % (where, e), file=sys.stderr)
            bad += 1
            continue
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        for e in errors:
            print("%s%s: %s" % (where, "/".join(str(p) for p in e.path) or "(root)", e.message), file=sys.stderr)
        bad += len(errors)
    if lines and not text.strip():
        print("no lines", file=sys.stderr)
        bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
