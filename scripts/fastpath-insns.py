#!/usr/bin/env python3
"""Count the instructions of the common path of `malloc` and `free` in libhz4.so.

Disassembles the exported symbols with objdump and, per function, walks the
*hot path*: from the entry, following fall-through at every conditional
branch and unconditional jumps inside the function, until a `ret`. A path
that reaches a call or a jump out of the function (a tail call) before any
`ret` is a slow path: the walk backs up to the last conditional branch and
takes it instead (depth first, fall-through first). So for `free` the hot
path is a non-null pointer of a local small page that does not empty the
page, and for `malloc` a small size served from the current page.

Printed per function:
  hot    instructions on the hot path, entry to `ret` included
  push   push instructions on it (callee-saved spills; `pop` likewise)
  got    loads through a GOT slot on it (not TLS offsets)
  tls    TLS offset loads through the GOT on it (`@GOTTPOFF`, one is the
         price of initial-exec TLS in a shared object)
  lock   lock-prefixed (atomic read-modify-write) instructions on it
  loads  instructions on it that read memory (any memory operand except
         `lea`, `nop` and plain `mov` stores)
  size   instructions of the whole function (trailing padding dropped)
  lockall lock-prefixed instructions anywhere in the function

Usage:
  scripts/fastpath-insns.py [--lib PATH] [-v] [FUNC.METRIC=MAX ...]
e.g.
  scripts/fastpath-insns.py malloc.hot=16 malloc.push=0 free.lock=0
Each FUNC.METRIC=MAX is a limit; the exit status is 1 if any is exceeded
(2 on a usage or disassembly problem). `-v` prints the hot paths.
Default library: target/release/libhz4.so of this tree.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUNCS = ("malloc", "free")
METRICS = ("hot", "loads", "push", "pop", "got", "tls", "lock", "size", "lockall")


def run(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"fastpath-insns: {' '.join(cmd)}: {e}")


def got_slots(lib):
    """Address ranges of the GOT sections, and the slots holding TLS offsets."""
    ranges = []
    for line in run("objdump", "-h", lib).splitlines():
        f = line.split()
        if len(f) >= 4 and f[1] in (".got", ".got.plt"):
            size, vma = int(f[2], 16), int(f[3], 16)
            ranges.append((vma, vma + size))
    tls = set()
    for line in run("objdump", "-R", lib).splitlines():
        f = line.split()
        if len(f) >= 2 and "TPOFF" in f[1]:
            tls.add(int(f[0], 16))
    return ranges, tls


def symbol_address(lib, name):
    for line in run("nm", "-D", "--defined-only", lib).splitlines():
        f = line.split()
        if len(f) == 3 and f[2] == name:
            return int(f[0], 16)
    sys.exit(f"fastpath-insns: {lib}: no exported symbol {name}")


def disassemble(lib, name):
    """[(addr, text)] of function `name`, padding at the end dropped."""
    start = symbol_address(lib, name)
    out = run("objdump", "-d", "--no-show-raw-insn", f"--start-address={start:#x}",
              f"--stop-address={start + 65536:#x}", lib)
    insns, seen_head = [], False
    for line in out.splitlines():
        m = re.match(r"^([0-9a-f]+) <(.+)>:$", line)
        if m:
            if seen_head:
                break  # next symbol
            seen_head = int(m.group(1), 16) == start
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(.*)$", line)
        if m and seen_head:
            insns.append((int(m.group(1), 16), m.group(2).strip()))
    while insns and re.match(r"^(int3|nop|data16|cs nop|xchg\s+%ax,%ax)", insns[-1][1]):
        insns.pop()
    if not insns:
        sys.exit(f"fastpath-insns: {lib}: no code for {name}")
    return insns


def target_of(text):
    m = re.match(r"^(j\w+|call)\s+([0-9a-f]+)\b", text)
    return int(m.group(2), 16) if m else None


def hot_path(insns):
    """Depth-first walk, fall-through first, to the first `ret` with no call
    and no jump out of the function on the way."""
    index = {a: i for i, (a, _) in enumerate(insns)}
    best = None

    def walk(i, path, seen):
        nonlocal best
        while True:
            if i >= len(insns) or i in seen:
                return False
            seen = seen | {i}
            addr, text = insns[i]
            path = path + [i]
            op = text.split()[0]
            if op.startswith("rep") and len(text.split()) > 1 and text.split()[1] == "ret":
                op = "ret"
            if op == "ret":
                best = path
                return True
            if op == "call" or op.startswith("call"):
                return False
            if op == "jmp" or op.startswith("jmp"):
                t = target_of(text)
                if t is None or t not in index:
                    return False  # indirect or tail jump out of the function
                i = index[t]
                continue
            if op.startswith("j"):  # conditional
                t = target_of(text)
                if walk(i + 1, path, seen):
                    return True
                if t is None or t not in index:
                    return False
                i = index[t]
                continue
            i += 1

    walk(0, [], frozenset())
    return best


def reads_memory(text):
    """Whether an instruction (AT&T syntax) reads memory."""
    f = text.split(None, 1)
    op = f[0]
    if op == "lock" and len(f) > 1:
        return True
    if len(f) < 2 or "(" not in f[1] or op.startswith(("lea", "nop")):
        return False
    operands = f[1].split("#")[0].strip()
    if op.startswith("mov") and not op.startswith(("movz", "movs")):
        # A store has memory only as the last operand.
        last = operands.rsplit(",", 1)[-1]
        return not ("(" in last and operands.count("(") == 1)
    return True


def measure(lib, name, ranges, tls):
    insns = disassemble(lib, name)
    path = hot_path(insns)
    if path is None:
        sys.exit(f"fastpath-insns: {name}: no path from the entry to a ret")

    def got_kind(text):
        m = re.search(r"\(%rip\).*#\s+([0-9a-f]+)", text)
        if not m:
            return None
        slot = int(m.group(1), 16)
        if not any(a <= slot < b for a, b in ranges):
            return None
        return "tls" if slot in tls else "got"

    r = dict.fromkeys(METRICS, 0)
    r["hot"] = len(path)
    r["size"] = len(insns)
    for i in path:
        text = insns[i][1]
        op = text.split()[0]
        if op in ("push", "pop"):
            r[op] += 1
        if op == "lock":
            r["lock"] += 1
        if reads_memory(text):
            r["loads"] += 1
        k = got_kind(text)
        if k:
            r[k] += 1
    r["lockall"] = sum(1 for _, t in insns if t.split()[0] == "lock")
    return r, [insns[i] for i in path]


def main(argv):
    lib = os.path.join(ROOT, "target", "release", "libhz4.so")
    verbose, limits = False, []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--lib" and args:
            lib = args.pop(0)
        elif a == "-v":
            verbose = True
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            m = re.match(r"^(\w+)\.(\w+)=(\d+)$", a)
            if not m or m.group(1) not in FUNCS or m.group(2) not in METRICS:
                print(f"fastpath-insns: bad limit {a!r} (want FUNC.METRIC=MAX, FUNC in "
                      f"{'/'.join(FUNCS)}, METRIC in {'/'.join(METRICS)})", file=sys.stderr)
                return 2
            limits.append((m.group(1), m.group(2), int(m.group(3))))
    if not os.path.exists(lib):
        print(f"fastpath-insns: {lib}: not built", file=sys.stderr)
        return 2
    ranges, tls = got_slots(lib)
    results = {}
    print(f"{lib}")
    print(f"{'symbol':8} " + " ".join(f"{m:>7}" for m in METRICS))
    for name in FUNCS:
        r, path = measure(lib, name, ranges, tls)
        results[name] = r
        print(f"{name:8} " + " ".join(f"{r[m]:>7}" for m in METRICS))
        if verbose:
            for a, t in path:
                print(f"    {a:x}: {t}")
    bad = [(f, m, mx, results[f][m]) for f, m, mx in limits if results[f][m] > mx]
    for f, m, mx, v in bad:
        print(f"LIMIT EXCEEDED: {f}.{m} = {v} > {mx}")
    if limits and not bad:
        print(f"all {len(limits)} limits met")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
