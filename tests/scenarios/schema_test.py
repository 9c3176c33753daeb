#!/usr/bin/env python3
"""The JSON Schema for editors (scenarios/schema) against what mailprobe really reads: every
shipped example validates, and each object's property names are exactly the keys the
loader's key table for that object accepts (scenarios/loader.cpp, the `*_keys` arrays), so
the schema cannot drift from the loader. Usage: schema_test.py SOURCE_ROOT"""
import glob
import json
import os
import re
import sys

try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is missing (tools/install-deps.sh installs it)")
    sys.exit(1)

root = sys.argv[1]
schema = json.load(open(os.path.join(root, "scenarios/schema/mailprobe-scenario.schema.json")))
failed = False


def fail(what):
    global failed
    print("FAIL:", what)
    failed = True


validator_class = jsonschema.validators.validator_for(schema)
validator_class.check_schema(schema)
validator = validator_class(schema)
examples = sorted(glob.glob(os.path.join(root, "scenarios/examples/*.json")))
if len(examples) < 7:
    fail(f"only {len(examples)} examples found")
for path in examples:
    errors = sorted(validator.iter_errors(json.load(open(path))), key=lambda e: list(e.absolute_path))
    for e in errors:
        fail(f"{os.path.basename(path)}: /{'/'.join(map(str, e.absolute_path))}: {e.message}")
    if not errors:
        print(f"ok: {os.path.basename(path)} validates")

# The loader's key tables: constexpr std::array<std::string_view, N> NAME_keys{"a", "b", ...};
loader = open(os.path.join(root, "scenarios/loader.cpp")).read()
tables = {}
for m in re.finditer(r"std::array<std::string_view,\s*(\d+)>\s+(\w+)_keys\{([^}]*)\}", loader):
    keys = re.findall(r'"([^"]*)"', m.group(3))
    if len(keys) != int(m.group(1)):
        fail(f"{m.group(2)}_keys: {len(keys)} names for an array of {m.group(1)}")
    tables[m.group(2)] = set(keys)

defs = schema["$defs"]
props = schema["properties"]
where = {
    "top": props,
    "defaults": props["defaults"]["properties"],
    "limits": props["defaults"]["properties"]["limits"]["properties"],
    "server": defs["server"]["properties"],
    "auth": defs["server"]["properties"]["auth"]["properties"],
    "mailbox": defs["mailbox"]["properties"],
    "oauth2": defs["oauth2"]["properties"],
    "tenant": props["tenants"]["items"]["properties"],
    "probe": defs["probe"]["properties"],
    "secret": {k: None for branch in defs["secret"]["oneOf"] for k in branch.get("properties", {})},
    "auth_results": defs["auth_results"]["properties"],
}
for name in sorted(set(tables) | set(where)):
    if name not in tables:
        fail(f"the loader has no {name}_keys table any more")
        continue
    if name not in where:
        fail(f"{name}_keys is not compared with the schema: add it to this test")
        continue
    schema_keys = set(where[name])
    if schema_keys != tables[name]:
        fail(f"{name}: only in the loader {sorted(tables[name] - schema_keys)}, "
             f"only in the schema {sorted(schema_keys - tables[name])}")
    else:
        print(f"ok: {name}: {len(schema_keys)} keys agree")
sys.exit(1 if failed else 0)
