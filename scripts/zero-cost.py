#!/usr/bin/env python3
"""Show that a build-time box costs nothing when it is off.

Builds libhz4.so twice with the work order's base knobs (B57+B58, B77 off,
no plant): once from this tree, once from a copy whose code for the box has
been cut out of the source. Then compares the machine code of `malloc`,
`free` and every other function of the library, after stripping addresses.

Boxes:
  b77    the adaptive gate: every `if B77 ...` block and adaptive call
         removed, the three per-thread arrays deleted;
  plant  the known-answer plant (HZ4_DEBUG_PLANT_NS): the call in malloc,
         the heap's carry word and the plant module removed;
  layout the layout padding (HZ4_DEBUG_LAYOUT_PAD): its module removed;
         and a third build with 4096 bytes of padding must have every
         function's code unchanged and `malloc`/`free` moved by 4096.

Usage: scripts/zero-cost.py [b77|plant]   (default b77; prints a table;
exit 1 if any function's instructions differ; a function other than
malloc/free with the same instructions in another block order is listed
as reordered and passes)
"""
import os, re, shutil, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = ("-DHZ4_MID_OWNER_REMOTE_QUEUE_BOX=1 -DHZ4_MID_OWNER_LOCAL_STACK_BOX=1 "
        "-DHZ4_MID_OWNER_LOCAL_STACK_SLOTS=8 -DHZ4_MID_OWNER_LOCAL_STACK_REMOTE_GATE=1")


def cut_blocks(src, head):
    """Remove every statement `head ... { ... }` (brace matched)."""
    out, i = [], 0
    while True:
        j = src.find(head, i)
        if j < 0:
            out.append(src[i:])
            return "".join(out)
        line_start = src.rfind("\n", 0, j) + 1
        out.append(src[i:line_start])
        k = src.index("{", j)
        depth = 0
        while True:
            if src[k] == "{":
                depth += 1
            elif src[k] == "}":
                depth -= 1
                if depth == 0:
                    break
            k += 1
        nl = src.find("\n", k)
        i = nl + 1 if nl >= 0 else len(src)


def strip_b77(tree):
    ls = os.path.join(tree, "allocator/src/mid/local_stack.rs")
    s = open(ls).read()
    s = cut_blocks(s, "if B77")
    s = re.sub(r"^\s*adaptive_reset\(h, sc\);\n", "", s, flags=re.M)
    for fn in ("unsafe fn adaptive_allow", "unsafe fn adaptive_reset"):
        a = s.index(fn)
        a = s.rfind("\n/// B77", 0, a)
        b = s.index("\n}\n", a) + 3
        s = s[:a] + "\n" + s[b:]
    s = s.replace("use super::adaptive::{self, Gate};\n", "")
    s = re.sub(r"use crate::config::\{B58, B77, COOLDOWN, PROBE_SHIFT, STACK_SLOTS\};",
               "use crate::config::{B58, STACK_SLOTS};", s)
    open(ls, "w").write(s)
    hp = os.path.join(tree, "allocator/src/heap.rs")
    h = open(hp).read()
    for f in ("hot", "probe_tick", "cooldown"):
        h = re.sub(r"\s*pub %s: \[u8; ADAPT_ARR\],\n" % f, "\n", h)
        h = re.sub(r"\s*\(\*h\)\.%s = \[0; ADAPT_ARR\];\n" % f, "\n", h)
        h = re.sub(r"\n\s*%s: \[0; ADAPT_ARR\],\n" % f, "\n", h)  # the sentinel heap
    open(hp, "w").write(h)
    code = [l for l in s.splitlines() if not l.lstrip().startswith("//")]
    assert not any(re.search(r"\bB77\b|adaptive", l) for l in code), "B77 code left in local_stack.rs"


def strip_plant(tree):
    api = os.path.join(tree, "allocator/src/api.rs")
    s = open(api).read()
    s = cut_blocks(s, "if PLANT_NS != 0")
    s = s.replace(" PLANT_NS,", "")
    assert "PLANT" not in s and "plant" not in s, "plant code left in api.rs"
    open(api, "w").write(s)
    hp = os.path.join(tree, "allocator/src/heap.rs")
    h = open(hp).read()
    h = re.sub(r"\s*pub plant_carry: \[u64; PLANT_ARR\],\n", "\n", h)
    h = re.sub(r"\s*\(\*h\)\.plant_carry = \[0; PLANT_ARR\];\n", "\n", h)
    h = re.sub(r"\n\s*plant_carry: \[0; PLANT_ARR\],\n", "\n", h)  # the sentinel heap
    assert "plant_carry" not in h, "plant field left in heap.rs"
    open(hp, "w").write(h)
    lib = os.path.join(tree, "allocator/src/lib.rs")
    l = open(lib).read().replace("mod plant;\n", "")
    open(lib, "w").write(l)
    os.remove(os.path.join(tree, "allocator/src/plant.rs"))


def strip_layout(tree):
    lib = os.path.join(tree, "allocator/src/lib.rs")
    l = open(lib).read()
    assert "mod layout;\n" in l, "no layout module in lib.rs"
    open(lib, "w").write(l.replace("mod layout;\n", ""))
    os.remove(os.path.join(tree, "allocator/src/layout.rs"))


STRIP = {"b77": strip_b77, "plant": strip_plant, "layout": strip_layout}


def address(lib, name):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[2] == name:
            return int(f[0], 16)
    sys.exit(f"{lib}: no symbol {name}")


def check_pad(target, plain_lib, plain):
    """The 4096-byte pad build: same code, every function moved."""
    padded_lib = build(ROOT, target + "/pad", BASE + " -DHZ4_DEBUG_LAYOUT_PAD=4096")
    padded = functions(padded_lib)
    ok = True
    for n in ("malloc", "free"):
        moved = address(padded_lib, n) - address(plain_lib, n)
        print(f"{n:10} moved by {moved} bytes with HZ4_DEBUG_LAYOUT_PAD=4096")
        ok &= moved == 4096
    # objdump counts the pad's int3 bytes into the function before it.
    def body(funcs, n):
        b = list(funcs.get(n, []))
        while b and b[-1] == "int3":
            b.pop()
        return b
    differ = [n for n in sorted(set(plain) | set(padded)) if body(plain, n) != body(padded, n)]
    print(f"pad build: {len(differ)} functions with other code (trailing int3 padding ignored)")
    return ok and not differ


def build(tree, target, defs=BASE):
    env = dict(os.environ, HZ4_DEFS_EXTRA=defs, CARGO_TARGET_DIR=target)
    subprocess.run(["cargo", "build", "--release", "-p", "hz4", "-q"], cwd=tree, env=env, check=True,
                   stderr=subprocess.DEVNULL)
    return os.path.join(target, "release", "libhz4.so")


def functions(lib):
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", lib], capture_output=True, text=True, check=True).stdout
    funcs, name, body = {}, None, []
    for line in dis.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            if name:
                funcs[name] = body
            # Drop the legacy-mangling hash: it depends on the source path.
            name, body = re.sub(r"17h[0-9a-f]{16}E$", "", m.group(1)), []
        elif name and "\t" in line:
            ins = line.split("\t", 1)[1]
            ins = re.sub(r"0x[0-9a-f]+|\b[0-9a-f]{4,}\b", "X", ins)  # addresses and offsets
            ins = re.sub(r"<[^>]*>", "<>", ins)
            body.append(ins.strip())
    if name:
        funcs[name] = body
    return funcs


def main():
    box = sys.argv[1] if len(sys.argv) > 1 else "b77"
    if box not in STRIP or len(sys.argv) > 2:
        sys.exit(f"usage: scripts/zero-cost.py [{'|'.join(STRIP)}] (got {' '.join(sys.argv[1:])!r})")
    tmp = tempfile.mkdtemp(prefix="hz4-zc-")
    tree = os.path.join(tmp, "tree")
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns("target", "runs", ".git"))
    STRIP[box](tree)
    target = os.path.join(ROOT, "target", "zero-cost", box)
    with_lib = build(ROOT, target + "/with")
    with_b77 = functions(with_lib)
    without = functions(build(tree, target + "/without"))
    names = sorted(set(with_b77) | set(without))
    # A function whose instructions are the same multiset in another order
    # is the same code with its basic blocks placed differently (LLVM's
    # block placement moves cold blocks when anything else in the crate
    # changes). That costs nothing off the fast paths, so it is reported,
    # not failed, except for malloc and free, which must match in order.
    differ, reordered = [], []
    for n in names:
        a, b = with_b77.get(n), without.get(n)
        if a == b:
            continue
        if a is not None and b is not None and sorted(a) == sorted(b) and n not in ("malloc", "free"):
            reordered.append(n)
        else:
            differ.append(n)
    for n in ("malloc", "free", "calloc", "realloc"):
        a, b = with_b77.get(n), without.get(n)
        state = "identical" if a == b else "same instructions, blocks reordered" if n in reordered else "DIFFERENT"
        print(f"{n:10} {len(a or [])} vs {len(b or [])} instructions: {state}")
    total = sum(len(v) for v in with_b77.values())
    print(f"all functions: {len(names)} symbols, {total} instructions; differing: {len(differ)}; "
          f"same instructions with blocks reordered: {len(reordered)}")
    for n in differ[:20]:
        print("  differs:", n)
    for n in reordered[:20]:
        print("  reordered:", n)
    shutil.rmtree(tmp)
    ok = not differ
    if box == "layout":
        ok &= check_pad(target, with_lib, with_b77)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
