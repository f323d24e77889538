"""Growing a capture of a few repeated blocks to the model's full depth. Torch-free.

Models with repeated blocks are captured with CAPTURED_BLOCKS of them; the middle one is the template that
every inner block of the full model repeats.
"""

from dataclasses import replace

from dojosim.workload.graph import Op, Phase, role_of

# Capture this many blocks and grow from the middle one: it has a block before and after it, as every
# block of the full model but the first and last does (what a block's output feeds decides what is saved).
CAPTURED_BLOCKS = 3
TEMPLATE_BLOCK = 1


def in_block(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _renamed(op: Op, prefix: str, new_prefix: str) -> Op:
    return replace(op, module=new_prefix + op.module[len(prefix) :])


def expand_blocks(
    ops: list[Op], block_path: str, captured: int, target: int, template_block: int = TEMPLATE_BLOCK
) -> list[Op]:
    """Grow a `captured`-block capture to `target` blocks, in the order a full capture would run them.

    The template block's ops become blocks t .. target-2 (t the template's index; the blocks before it, e.g.
    dense-first layers of an MoE, stay as captured); the last captured block becomes block target-1.
    """
    template = f"{block_path}.{template_block}"
    last, new_last = f"{block_path}.{captured - 1}", f"{block_path}.{target - 1}"
    copies = target - captured + 1
    order = {
        Phase.FWD: range(template_block, template_block + copies),
        Phase.BWD: range(template_block + copies - 1, template_block - 1, -1),
        Phase.OPT: range(template_block, template_block + copies),
    }
    out: list[Op] = []
    i = 0
    while i < len(ops):
        op = ops[i]
        if in_block(op.module, last):
            out.append(_renamed(op, last, new_last))
            i += 1
            continue
        if not in_block(op.module, template):
            out.append(op)
            i += 1
            continue
        j = i
        while j < len(ops) and in_block(ops[j].module, template) and ops[j].phase == op.phase:
            j += 1
        run = ops[i:j]
        for k in order[op.phase]:
            new_prefix = f"{block_path}.{k}"
            out.extend(_renamed(o, template, new_prefix) for o in run)
        i = j
    return out


class Growth:
    """How many blocks of the full model each captured name stands for, and totals grown to full depth."""

    def __init__(self, block_path: str, captured: int, target: int, template_block: int = TEMPLATE_BLOCK):
        self.block_path = block_path
        self.grow = target - captured if block_path else 0
        self.template = f"{block_path}.{template_block}"

    def copies(self, name: str) -> int:
        """How many blocks of the full model a captured name (module or parameter) stands for."""
        return 1 + self.grow if self.grow and in_block(name, self.template) else 1

    def total(self, values: dict[str, int]) -> int:
        """A per-parameter total of the captured model, grown to full depth by the template block's share."""
        return sum(v * self.copies(name) for name, v in values.items())

    def by_role(self, values: dict[str, int]) -> dict[str, int]:
        """Per-parameter values summed by role (block index as '*'), grown to full depth, sorted by role."""
        roles: dict[str, int] = {}
        for name, value in values.items():
            role = role_of(name, self.block_path)
            roles[role] = roles.get(role, 0) + value * self.copies(name)
        return dict(sorted(roles.items()))

    def activations(self, saved: dict[int, tuple[int, str, int]]) -> list[tuple[str, int, int]]:
        """Saved storages (bytes, producing module, last dim) as sorted (role, last dim, bytes), grown."""
        out: dict[tuple[str, int], int] = {}
        for nbytes, module, last_dim in saved.values():
            key = (role_of(module, self.block_path), last_dim)
            out[key] = out.get(key, 0) + nbytes * self.copies(module)
        return sorted((role, dim, nbytes) for (role, dim), nbytes in out.items())
