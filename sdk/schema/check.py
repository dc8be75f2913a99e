"""Checks YAML job spec files against sdk/schema/job.schema.json with the
`jsonschema` package (a third-party JSON Schema validator), so the schema is
shown to be real draft 2020-12 JSON Schema and usable outside Orchion:

    .venv/bin/python sdk/schema/check.py sdk/schema/job.schema.json FILE...

Prints `FILE: ok` or `FILE: invalid` and one line per error; exits 1 when a
file is invalid. Needs jsonschema and pyyaml (`bash .ci/setup` puts them in
.venv). It checks the schema only: `orchion job submit` also converts units
and applies the server's checks (docs/job-spec.md).
"""
import json
import sys

import jsonschema
import yaml


def main(schema_path, paths):
    with open(schema_path, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failed = False
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            documents = [document for document in yaml.safe_load_all(handle) if document is not None]
        errors = [error for document in documents for error in validator.iter_errors(document)]
        print(f"{path}: {'invalid' if errors or not documents else 'ok'}")
        for error in errors:
            where = "/".join(str(part) for part in error.absolute_path) or "(document)"
            print(f"  {where}: {error.message}")
        failed = failed or bool(errors) or not documents
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: check.py SCHEMA FILE...")
    sys.exit(main(sys.argv[1], sys.argv[2:]))
