#!/usr/bin/env python3
"""check-layers: fails when a lib/ module includes a higher layer.

lib/ is grouped by layer (docs/architecture.md, each folder's README.md).
A file in lib/<layer>/ may include headers of its own layer and of lower
layers only; a header without a folder ("log.h") is refused, so every
include says which layer it reaches into. The built-in connectors in
connectors/ are held to what a shared-object connector has: the public ABI
(include/placehub/), lib/core/, and headers of their own beside them
(connectors/fhir/fhir.h). Services and tests may include any layer.

Usage: tools/check-layers.py [ROOT]   (ROOT: the repository, default: here)
Prints one line per wrong include, "file:line: why", and exits 1 if any.
"""
import os
import re
import sys

# Lowest first. A layer may include those of a lower rank, and itself.
RANKS = {
    "core": 0,
    "schema": 1,
    "kafka": 1,
    "hl7": 2,
    "net": 2,
    "governance": 3,
    "delivery": 4,
    "service": 5,
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def check_file(root, path, allowed, what, own_headers=False):
    """own_headers: a header without a folder is allowed when it lies beside
    the file (a connector's private header)."""
    problems = []
    with open(os.path.join(root, path), encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            match = INCLUDE.match(line)
            if not match:
                continue
            target = match.group(1)
            if target.startswith("placehub/"):
                continue
            folder = target.split("/")[0] if "/" in target else None
            if folder is None and own_headers and \
                    os.path.isfile(os.path.join(root, os.path.dirname(path), target)):
                continue
            if folder is None:
                problems.append(f'{path}:{number}: #include "{target}" names no layer; '
                                f'write "<layer>/{target}" (layers: {", ".join(RANKS)})')
            elif folder not in RANKS:
                problems.append(f'{path}:{number}: #include "{target}": no layer {folder} in lib/')
            elif folder not in allowed:
                problems.append(f'{path}:{number}: #include "{target}": {what} may not include '
                                f'lib/{folder}/ (it may include: {", ".join(sorted(allowed))})')
    return problems


def main(argv):
    root = argv[1] if len(argv) > 1 else "."
    problems = []
    lib = os.path.join(root, "lib")
    for layer in sorted(os.listdir(lib)):
        if not os.path.isdir(os.path.join(lib, layer)):
            continue
        if layer not in RANKS:
            problems.append(f"lib/{layer}/: not a known layer; add it to tools/check-layers.py "
                            f"with its rank and to docs/architecture.md")
            continue
        allowed = {name for name, rank in RANKS.items() if rank < RANKS[layer]} | {layer}
        for name in sorted(os.listdir(os.path.join(lib, layer))):
            if name.endswith((".c", ".h")):
                problems += check_file(root, f"lib/{layer}/{name}", allowed,
                                       f"lib/{layer} (rank {RANKS[layer]})")
    for name in sorted(os.listdir(lib)):
        if name.endswith((".c", ".h")):
            problems.append(f"lib/{name}: outside any layer; move it into one of lib/"
                            f"{{{','.join(RANKS)}}}/")
    connectors = os.path.join(root, "connectors")
    for folder in sorted(os.listdir(connectors)) if os.path.isdir(connectors) else []:
        for name in sorted(os.listdir(os.path.join(connectors, folder))):
            if name.endswith((".c", ".h")):
                problems += check_file(root, f"connectors/{folder}/{name}", {"core"},
                                       "a connector", own_headers=True)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check-layers: {len(problems)} wrong-direction or unnamed include(s)",
              file=sys.stderr)
        return 1
    print("check-layers: lib/ and connectors/ include only downwards")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
