#!/usr/bin/python3
"""schema.py SCHEMA [FILE]: validate one JSON document (FILE, or stdin)
against a JSON Schema (draft 2020-12) from the repository's schema/ dir
(or $VS_SCHEMA_DIR).

SCHEMA is a file name or a bare name ("inspect" -> schema/inspect.schema.json).
Exit 0 when valid; 1 with every violation on stderr otherwise.  Debian's
python3-jsonschema is used (test-time only), hence /usr/bin/python3."""
import json
import os
import sys

from jsonschema import Draft202012Validator


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
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: schema.py SCHEMA [FILE]")
    with open(schema_path(sys.argv[1])) as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    text = open(sys.argv[2]).read() if len(sys.argv) == 3 else sys.stdin.read()
    try:
        doc = json.loads(text)
    except ValueError as e:
        print("not one JSON document: %s" % e, file=sys.stderr)
        return 1
    errors = sorted(Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        print("%s: %s" % ("/".join(str(p) for p in e.path) or "(root)", e.message), file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
