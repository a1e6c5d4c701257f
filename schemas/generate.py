#!/usr/bin/env python3
"""Regenerate the offline Kubernetes schemas shipped in `schemas/data/`.

Run by hand (never by the build or CI), from anywhere:

    python3 schemas/generate.py                      # newest kubernetes-validate, newest 8 minors
    python3 schemas/generate.py --package-version 1.37.0 --count 8
    python3 schemas/generate.py --wheel /path/to/kubernetes_validate-X-py3-none-any.whl

What it does:

1. `pip download kubernetes-validate==VERSION --no-deps` into a temporary directory (PyPI), unless
   `--wheel` names a wheel already on disk. Nothing is installed or imported from the package.
2. In the wheel, find `kubernetes_validate/kubernetes-json-schema/vX.Y.Z-local-strict/_definitions.json`
   (the JSON-schema form of the Kubernetes OpenAPI definitions, one directory per Kubernetes minor
   version) and keep the newest `--count` minor versions.
3. Prune every definition to what validation needs: `type` (the `[T, "null"]` pairs become `type: T`
   plus `nullable: true`), `properties`, `required`, `items`, `additionalProperties` (as a schema;
   `additionalProperties: false` is dropped because a closed object is the default, as in CRD
   structural schemas), `format`, `enum`, `$ref` (rewritten to the integer index of the definition).
   Descriptions, list/patch/map-type markers and unions go. `IntOrString` becomes
   `x-kubernetes-int-or-string: true`, `Quantity` becomes `x-nomos-quantity: true`, objects that the
   source leaves open (no properties, no additionalProperties) get
   `x-kubernetes-preserve-unknown-fields: true`. The `apiVersion`/`kind` enums of top-level kinds go
   (objects are looked up by group/version/kind, so they always match) and the
   `x-kubernetes-group-version-kind` markers become a separate index. Only definitions reachable from
   a kind are kept; shared definitions are stored once and referenced by index.
4. Write, per Kubernetes minor version, `schemas/data/vX.Y.json.zz`: zlib (level 9) of a text whose
   first line is a JSON header
       {"format":1,"package":"kubernetes-validate","package_version":..,"kubernetes":"X.Y.Z",
        "defs":[name, ...], "gvk":[[group, version, kind, def_index], ...]}
   followed by one compact JSON line per definition, in `defs` order (line i+1 = definition i).
   The Rust side (nomos-core `schema`) parses a definition only when a kind needs it.
5. Write `schemas/src/generated.rs` (the version table with `include_bytes!`) and refresh the
   "Data" section of `schemas/README.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, "data")
GENERATED_RS = os.path.join(HERE, "src", "generated.rs")
README = os.path.join(HERE, "README.md")
FORMAT = 1

INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
REF_PREFIX = "#/$defs/"
DIR_RE = re.compile(r"^kubernetes_validate/kubernetes-json-schema/v(\d+)\.(\d+)\.(\d+)-local-strict/_definitions\.json$")


def fetch_wheel(version: str | None, tmp: str) -> str:
    spec = "kubernetes-validate" + (f"=={version}" if version else "")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", spec, "--no-deps", "--only-binary=:all:", "-d", tmp],
        check=True,
    )
    wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
    if len(wheels) != 1:
        sys.exit(f"expected one wheel in {tmp}, found {wheels}")
    return os.path.join(tmp, wheels[0])


def split_type(t):
    """Returns (type or None, nullable)."""
    if t is None:
        return None, False
    if isinstance(t, str):
        return (None, True) if t == "null" else (t, False)
    types = [x for x in t if x != "null"]
    nullable = len(types) != len(t)
    if len(types) != 1:
        raise ValueError(f"unexpected type list {t}")
    return types[0], nullable


class Pruner:
    def __init__(self, defs: dict):
        self.defs = defs
        self.used: dict[str, int] = {}
        self.order: list[str] = []

    def ref_index(self, name: str) -> int:
        if name not in self.used:
            if name not in self.defs:
                raise KeyError(f"dangling $ref {name}")
            self.used[name] = len(self.order)
            self.order.append(name)
        return self.used[name]

    def node(self, s: dict, top_kind: bool = False) -> dict:
        if "$ref" in s:
            ref = s["$ref"]
            assert ref.startswith(REF_PREFIX), ref
            return {"$ref": self.ref_index(ref[len(REF_PREFIX):])}
        if "oneOf" in s or "anyOf" in s or "allOf" in s:
            raise ValueError(f"unexpected combinator in {json.dumps(s)[:200]}")
        out: dict = {}
        t, nullable = split_type(s.get("type"))
        if t is not None:
            out["type"] = t
        if nullable:
            out["nullable"] = True
        if "format" in s:
            out["format"] = s["format"]
        if "enum" in s:
            out["enum"] = s["enum"]
        if "properties" in s:
            props = {}
            for k, v in sorted(s["properties"].items()):
                if top_kind and k in ("apiVersion", "kind"):
                    v = {kk: vv for kk, vv in v.items() if kk != "enum"}
                props[k] = self.node(v)
            out["properties"] = props
        if s.get("required"):
            out["required"] = sorted(s["required"])
        if "items" in s:
            out["items"] = self.node(s["items"])
        ap = s.get("additionalProperties")
        if isinstance(ap, dict):
            out["additionalProperties"] = self.node(ap)
        elif ap is True:
            out["x-kubernetes-preserve-unknown-fields"] = True
        if t == "object" and "properties" not in s and not isinstance(ap, dict) and ap is not False:
            out["x-kubernetes-preserve-unknown-fields"] = True
        if t == "object" and "properties" in s and ap is None:
            # The strict form closes every object with properties; stay faithful if one is open.
            out["x-kubernetes-preserve-unknown-fields"] = True
        return out

    def definition(self, name: str) -> dict:
        if name == INT_OR_STRING:
            return {"x-kubernetes-int-or-string": True, "nullable": True}
        if name == QUANTITY:
            return {"x-nomos-quantity": True, "nullable": True}
        s = self.defs[name]
        return self.node(s, top_kind="x-kubernetes-group-version-kind" in s)


def build_version(defs: dict, package_version: str, k8s: str) -> bytes:
    pr = Pruner(defs)
    gvk = []
    for name in sorted(defs):
        for g in defs[name].get("x-kubernetes-group-version-kind", []):
            gvk.append([g["group"], g["version"], g["kind"], pr.ref_index(name)])
    pr.ref_index(OBJECT_META)
    lines: list[str] = []
    i = 0
    # ref_index appends while we walk: process until the closure is complete.
    while i < len(pr.order):
        lines.append(json.dumps(pr.definition(pr.order[i]), separators=(",", ":"), sort_keys=True))
        i += 1
    gvk.sort()
    header = {
        "format": FORMAT,
        "package": "kubernetes-validate",
        "package_version": package_version,
        "kubernetes": k8s,
        "defs": pr.order,
        "gvk": gvk,
    }
    text = json.dumps(header, separators=(",", ":")) + "\n" + "\n".join(lines) + "\n"
    return text.encode("utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package-version", help="kubernetes-validate version (default: newest on PyPI)")
    ap.add_argument("--wheel", help="use this wheel instead of downloading")
    ap.add_argument("--count", type=int, default=8, help="how many newest Kubernetes minor versions to ship")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(args.package_version, tmp)
        m = re.match(r"kubernetes_validate-([^-]+)-", os.path.basename(wheel))
        if not m:
            sys.exit(f"cannot read the package version from {wheel}")
        package_version = m.group(1)
        with zipfile.ZipFile(wheel) as z:
            found = {}
            for n in z.namelist():
                mm = DIR_RE.match(n)
                if mm:
                    found[(int(mm.group(1)), int(mm.group(2)), int(mm.group(3)))] = n
            if not found:
                sys.exit("no *-local-strict/_definitions.json in the wheel: the package layout changed")
            # newest patch per minor, newest minors first
            per_minor = {}
            for v in sorted(found):
                per_minor[v[:2]] = v
            chosen = sorted(per_minor.values(), reverse=True)[: args.count]
            os.makedirs(DATA_DIR, exist_ok=True)
            for f in os.listdir(DATA_DIR):
                if f.endswith(".json.zz"):
                    os.remove(os.path.join(DATA_DIR, f))
            table = []
            total = 0
            for v in chosen:
                k8s = "%d.%d.%d" % v
                minor = "%d.%d" % v[:2]
                defs = json.loads(z.read(found[v]))["$defs"]
                raw = build_version(defs, package_version, k8s)
                packed = zlib.compress(raw, 9)
                fname = f"v{minor}.json.zz"
                with open(os.path.join(DATA_DIR, fname), "wb") as fh:
                    fh.write(packed)
                total += len(packed)
                table.append((minor, k8s, fname, len(raw), len(packed)))
                print(f"{fname}: kubernetes {k8s}, {len(raw)} bytes -> {len(packed)} compressed")

    with open(GENERATED_RS, "w") as fh:
        fh.write("// @generated by schemas/generate.py; do not edit.\n\n")
        fh.write("/// Version of the `kubernetes-validate` PyPI package the data was taken from.\n")
        fh.write(f'pub const PACKAGE_VERSION: &str = "{package_version}";\n\n')
        fh.write("/// Format number of the decompressed documents (first line, `format`).\n")
        fh.write(f"pub const FORMAT: u32 = {FORMAT};\n\n")
        fh.write("/// (minor version, full Kubernetes version, compressed document), newest first.\n")
        fh.write("pub(crate) static TABLE: &[(&str, &str, &[u8])] = &[\n")
        for minor, k8s, fname, _, _ in table:
            fh.write(f'    ("{minor}", "{k8s}", include_bytes!("../data/{fname}")),\n')
        fh.write("];\n\n")
        fh.write("/// The minor versions of `TABLE`, newest first.\n")
        fh.write("pub(crate) static VERSIONS: &[&str] = &[")
        fh.write(", ".join(f'"{minor}"' for minor, _, _, _, _ in table))
        fh.write("];\n")

    # Keep `cargo fmt --check` happy.
    try:
        subprocess.run(["rustfmt", "--edition", "2024", GENERATED_RS], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"warning: rustfmt {GENERATED_RS} failed ({e}); run cargo fmt", file=sys.stderr)

    rows = "\n".join(
        f"| {minor} | {k8s} | `data/{fname}` | {raw:,} | {packed:,} |" for minor, k8s, fname, raw, packed in table
    )
    data_section = (
        "## Data\n\n"
        f"Taken from the PyPI package `kubernetes-validate` {package_version} "
        f"(its `*-local-strict/_definitions.json`), {len(table)} Kubernetes minor versions, "
        f"{total:,} bytes compressed in total.\n\n"
        "| minor | Kubernetes | file | bytes | compressed |\n| --- | --- | --- | --- | --- |\n"
        f"{rows}\n"
    )
    text = open(README).read() if os.path.exists(README) else "# nomos-schemas\n\n"
    marker = "## Data\n"
    if marker in text:
        text = text[: text.index(marker)]
    with open(README, "w") as fh:
        fh.write(text.rstrip("\n") + "\n\n" + data_section)


if __name__ == "__main__":
    main()
