#!/usr/bin/env bash
# What deploy/ and `meson install` promise, checked without a cluster or a network:
#  - `meson install` gives a binary that runs (the demo, on loopback), with the docs where the
#    systemd unit's Documentation= points and the example scenarios next to their schema;
#  - every file in deploy/ parses; the Kubernetes StatefulSet runs as many shards as replicas,
#    and its ConfigMap scenario passes `mailprobe validate`;
#  - every flag the systemd unit and the StatefulSet give `mailprobe run` is one run knows.
# Usage: deploy.sh MAILPROBE SOURCE_ROOT BUILD_ROOT
set -u
mailprobe=$1
src=$2
build=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# 1. meson install into a staging directory.
if ! meson install -C "$build" --no-rebuild --destdir "$work/stage" > "$work/install.log" 2>&1; then
  fail "meson install: $(tail -5 "$work/install.log")"
fi
prefix=$(meson introspect "$build" --buildoptions | python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
root="$work/stage$prefix"
if "$root/bin/mailprobe" demo > "$work/demo" 2>&1; then
  echo "ok: the installed binary runs the demo"
else
  fail "the installed mailprobe demo: $(tail -5 "$work/demo")"
fi
doc=$(sed -n 's|^Documentation=file://||p' "$src/deploy/mailprobe.service")
[ -f "$work/stage$doc" ] || fail "the unit's Documentation=$doc is not installed"
[ -f "$root/share/doc/mailprobe/STAGES.md" ] || fail "docs/ is not installed"
n=0
for f in "$root"/share/mailprobe/examples/*.json; do
  schema=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["$schema"])' "$f")
  [ -f "$(dirname "$f")/$schema" ] || fail "$f: its \$schema $schema is not installed beside it"
  n=$((n + 1))
done
[ "$n" -ge 7 ] || fail "only $n example scenarios installed"
[ -f "$root/share/mailprobe/deploy/kubernetes/mailprobe.yaml" ] || fail "deploy/ is not installed"
[ "$failed" = 0 ] && echo "ok: binary, docs, $n examples with their schema and deploy/ installed under $prefix"

# 2 and 3. deploy/ files.
"$mailprobe" run --help > "$work/run-help" 2>&1
python3 - "$src/deploy" "$work" "$work/run-help" <<'PY' || failed=1
import json, re, sys, pathlib, yaml
deploy, work, run_help = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), open(sys.argv[3]).read()
bad = []
docs = {}
for f in sorted(deploy.rglob("*.y*ml")):
    try:
        docs[f.name] = list(yaml.safe_load_all(f.read_text()))
    except yaml.YAMLError as e:
        bad.append(f"{f}: {e}")
k8s = {d["kind"]: d for d in docs.get("mailprobe.yaml", []) if d}
sts = k8s.get("StatefulSet")
if not sts:
    bad.append("deploy/kubernetes/mailprobe.yaml has no StatefulSet")
else:
    c = sts["spec"]["template"]["spec"]["containers"][0]
    shards = next((e["value"] for e in c.get("env", []) if e["name"] == "MAILPROBE_SHARDS"), None)
    if str(sts["spec"]["replicas"]) != shards:
        bad.append(f"StatefulSet replicas {sts['spec']['replicas']} but MAILPROBE_SHARDS {shards}")
    cmd = " ".join(c["args"])
    if "${HOSTNAME##*-}/${MAILPROBE_SHARDS}" not in cmd:
        bad.append("the StatefulSet does not take its shard from the pod ordinal")
    (work / "k8s-scenario.json").write_text(k8s["ConfigMap"]["data"]["scenario.json"])
    (work / "k8s-env").write_text("\n".join(f"{k}={v}" for k, v in k8s["Secret"]["stringData"].items()))
    flags = re.findall(r"(?<!\S)(--[a-z][a-z-]*)", cmd)
    unit = (deploy / "mailprobe.service").read_text()
    flags += re.findall(r"(?<!\S)(--[a-z][a-z-]*)", re.search(r"^ExecStart=(.*)$", unit, re.M).group(1))
    for flag in sorted(set(flags)):
        if not re.search(r"(?<!\S)" + re.escape(flag) + r"(?![a-z-])", run_help):
            bad.append(f"`mailprobe run` does not know {flag} (used in deploy/)")
for b in bad:
    print("FAIL:", b)
if not bad:
    print(f"ok: {len(docs)} YAML files parse; replicas = shards; every deploy/ flag is one run knows")
sys.exit(1 if bad else 0)
PY
if [ -f "$work/k8s-scenario.json" ]; then
  if (set -a; . "$work/k8s-env"; set +a; "$mailprobe" validate "$work/k8s-scenario.json") > "$work/validate" 2>&1; then
    echo "ok: the ConfigMap's scenario is valid"
  else
    fail "the ConfigMap's scenario: $(cat "$work/validate")"
  fi
fi
exit $failed
