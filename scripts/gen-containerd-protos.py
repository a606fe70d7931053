#!/usr/bin/env python3
"""Generate proto/containerd/*.proto from the field tables in shared/docs/containerd-api.md.

The tables there were checked field-by-field against containerd 1.6.20; generating from them keeps our
definitions identical to those facts. Run again if the doc changes; the output is committed.
"""
import re, sys, os, collections

doc = open(sys.argv[1]).read().splitlines()
out_dir = sys.argv[2]

PACKAGES = [
    "containerd.types", "containerd.v1.types", "containerd.services.version.v1",
    "containerd.services.namespaces.v1", "containerd.services.containers.v1", "containerd.services.tasks.v1",
    "containerd.services.images.v1", "containerd.services.content.v1", "containerd.services.snapshots.v1",
    "containerd.services.diff.v1", "containerd.services.leases.v1", "containerd.services.events.v1",
    "containerd.services.introspection.v1", "containerd.events", "containerd.runc.v1", "google.rpc",
]
SCALARS = {"string", "bytes", "bool", "int32", "int64", "uint32", "uint64", "double", "float", "sint32", "sint64", "fixed32", "fixed64"}

def package_of(full):
    best = max((p for p in PACKAGES if full.startswith(p + ".")), key=len)
    return best

messages = collections.OrderedDict()   # full name -> list of (num, name, type)
enums = collections.OrderedDict()      # full name -> list of (value, name)
services = collections.OrderedDict()   # full name -> list of (rpc, req, resp)

i = 0
while i < len(doc):
    line = doc[i]
    m_msg = re.match(r"^#### `([\w.]+)`\s*(\(.*)?$", line)
    m_enum = re.match(r"^#### enum `([\w.]+)`", line)
    m_svc = re.match(r"^### [\d.]+ `([\w.]+)`", line)
    if m_enum:
        name = m_enum.group(1); rows = []
        i += 1
        while i < len(doc) and not doc[i].startswith("|"): i += 1
        i += 2
        while i < len(doc) and doc[i].startswith("|"):
            cells = [c.strip() for c in doc[i].strip("|").split("|")]
            rows.append((int(cells[0]), cells[1].strip("`"))); i += 1
        enums[name] = rows; continue
    if m_msg and not m_enum:
        name = m_msg.group(1); rows = []
        i += 1
        while i < len(doc) and not doc[i].startswith("|") and not doc[i].startswith("#"): i += 1
        if i < len(doc) and doc[i].startswith("| #"):
            i += 2
            while i < len(doc) and doc[i].startswith("|"):
                cells = [c.strip() for c in doc[i].strip("|").split("|")]
                if cells[0]:  # "(no fields)" rows have no number
                    rows.append((int(cells[0]), cells[1].strip("`"), cells[2].strip("`")))
                i += 1
            messages[name] = rows
        continue
    if m_svc:
        name = m_svc.group(1); rows = []
        i += 1
        while i < len(doc) and not doc[i].startswith("| RPC") and not doc[i].startswith("#"): i += 1
        if i < len(doc) and doc[i].startswith("| RPC"):
            i += 2
            while i < len(doc) and doc[i].startswith("|"):
                cells = [c.strip() for c in doc[i].strip("|").split("|")]
                rows.append((cells[0].strip("`"), cells[1].strip("`"), cells[2].strip("`"))); i += 1
            services[name] = rows
        continue
    i += 1

# Messages described only in prose/tables elsewhere: google.rpc.Status (introspection needs it).
messages.setdefault("google.rpc.Status", [(1, "code", "int32"), (2, "message", "string"), (3, "details", "repeated google.protobuf.Any")])
# containerd.services.events.v1 Subscribe/Publish responses use Empty; all present in tables.

def ref(t, pkg):
    t = t.strip()
    if t.startswith("map<"):
        k, v = t[4:-1].split(",", 1)
        return f"map<{k.strip()}, {ref(v, pkg)}>"
    if t in SCALARS: return t
    if t.startswith("google.protobuf."): return "." + t
    if t in messages or t in enums: return "." + t
    # relative name inside the package
    if f"{pkg}.{t}" in messages or f"{pkg}.{t}" in enums: return f".{pkg}.{t}"
    raise SystemExit(f"unknown type {t!r} in {pkg}")

def field_line(num, name, typ, pkg, indent):
    rep = ""
    if typ.startswith("repeated "):
        rep, typ = "repeated ", typ[len("repeated "):]
    return f"{indent}{rep}{ref(typ, pkg)} {name} = {num};"

def children(parent):
    return [n for n in list(messages) + list(enums) if n.rsplit(".", 1)[0] == parent]

def emit_message(full, pkg, indent):
    short = full.rsplit(".", 1)[1]
    lines = [f"{indent}message {short} {{"]
    for num, name, typ in messages[full]:
        lines.append(field_line(num, name, typ, pkg, indent + "  "))
    for child in children(full):
        lines += emit_enum(child, indent + "  ") if child in enums else emit_message(child, pkg, indent + "  ")
    lines.append(f"{indent}}}")
    return lines

def emit_enum(full, indent):
    short = full.rsplit(".", 1)[1]
    lines = [f"{indent}enum {short} {{"]
    for value, name in enums[full]:
        lines.append(f"{indent}  {name} = {value};")
    lines.append(f"{indent}}}")
    return lines

by_pkg = collections.defaultdict(list)
for n in list(messages) + list(enums):
    pkg = package_of(n)
    if n.rsplit(".", 1)[0] == pkg: by_pkg[pkg].append(n)
for s in services: by_pkg.setdefault(package_of(s), [])

os.makedirs(out_dir, exist_ok=True)
files = []
for pkg in PACKAGES:
    if pkg not in by_pkg: continue
    fname = pkg.replace(".", "_") + ".proto"
    files.append(fname)
    body = []
    for n in by_pkg[pkg]:
        body += (emit_enum(n, "") if n in enums else emit_message(n, pkg, "")) + [""]
    for s, rpcs in services.items():
        if package_of(s) != pkg: continue
        body.append(f"service {s.rsplit('.', 1)[1]} {{")
        for rpc, req, resp in rpcs:
            def side(t):
                stream = "stream " if t.startswith("stream ") else ""
                return stream + ref(t.replace("stream ", ""), pkg)
            body.append(f"  rpc {rpc}({side(req)}) returns ({side(resp)});")
        body += ["}", ""]
    imports = ['import "google/protobuf/any.proto";', 'import "google/protobuf/empty.proto";',
               'import "google/protobuf/timestamp.proto";', 'import "google/protobuf/field_mask.proto";']
    text = "\n".join(["// Generated by scripts/gen-containerd-protos.py from shared/docs/containerd-api.md.",
                      "// containerd 1.6 wire definitions; field numbers are containerd's own. Do not edit.",
                      'syntax = "proto3";', "", f"package {pkg};", ""] + imports + ["__IMPORTS__", ""] + body)
    open(os.path.join(out_dir, fname), "w").write(text)

# every file imports every other generated file (cross-package refs are fully qualified)
for fname in files:
    p = os.path.join(out_dir, fname)
    others = "\n".join(f'import "{f}";' for f in files if f != fname)
    text = open(p).read()
    open(p, "w").write(text.replace("__IMPORTS__", others))
print("wrote", len(files), "files,", len(messages), "messages,", len(enums), "enums,", sum(len(v) for v in services.values()), "rpcs")
