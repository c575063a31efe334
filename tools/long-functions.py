#!/usr/bin/env python3
"""long-functions: lists C functions longer than a bound (default 100 lines)
and files longer than 800 lines, in the given folders (default lib services).

A function is taken to run from its opening brace in column 0 to the next
closing brace in column 0 (the project's clang-format style puts both
there). Usage: tools/long-functions.py [--max N] [FOLDER...]
"""
import os
import re
import sys

NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def functions(path):
    with open(path, encoding="utf-8") as source:
        lines = source.read().splitlines()
    start = None
    for number, line in enumerate(lines):
        if line == "{" and number > 0:
            head = number - 1
            while head > 0 and not NAME.search(lines[head]):
                head -= 1
            match = NAME.search(lines[head])
            start = (number, match.group(1) if match else "?")
        elif line.startswith("}") and start and not line.startswith("};"):
            yield start[1], start[0] + 1, number - start[0] + 1
            start = None
    return len(lines)


def main(argv):
    bound = 100
    folders = []
    args = iter(argv[1:])
    for arg in args:
        if arg == "--max":
            bound = int(next(args))
        else:
            folders.append(arg)
    found = 0
    for folder in folders or ["lib", "services"]:
        for root, _, names in os.walk(folder):
            for name in sorted(names):
                if not name.endswith(".c"):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as source:
                    length = sum(1 for _ in source)
                if length > 800:
                    print(f"{path}: {length} lines (file)")
                    found += 1
                for function, line, size in functions(path):
                    if size > bound:
                        print(f"{path}:{line}: {function}: {size} lines")
                        found += 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
