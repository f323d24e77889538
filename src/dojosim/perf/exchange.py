"""The on-chip exchange of a bulk-synchronous SRAM machine: the operand blocks a matrix op's cores trade.

On Graphcore's IPU every core (tile) holds only its slice of each tensor in its own SRAM, and a program runs
as alternating compute and exchange phases (bulk-synchronous parallel): before a tile can multiply its blocks
it must receive them over the IPU-Exchange, and no tile computes while the exchange runs. A matrix product of
F FLOPs split over P tiles gives each tile V = F / (2P) multiply-accumulates; the least each tile can receive for
them is its three operand blocks (two inputs in, partial sums out) of a cube-shaped 3-D blocking, 3 V^(2/3)
elements: the memory-independent communication lower bound of a blocked matrix product (Irony, Toledo and
Tiskin 2004; Ballard et al. 2014). Each tile receives at its share of the fabric's bandwidth, so the phase
lasts 3 V^(2/3) x element bytes / (bandwidth / P). It is a lower bound: a planner that keeps a weight's blocks
where the forward pass wants them saves one block there but pays it in backward, where the same weight is read
transposed; reductions beyond one round and any imbalance are not charged.
"""

from dojosim.perf.device import DeviceModel

MATRIX_OPS = ("matmul", "conv", "attention")
# Operand element bytes by the matmul precision (partials kept at the operands' width, as fp16.16 runs do).
ELEMENT_BYTES = {"fp32": 4.0, "fp8": 1.0, "fp4": 0.5}
OPERAND_BLOCKS = 3  # two input blocks received, one block of partial sums sent on


def exchange_s(device: DeviceModel, flops: float, precision: str) -> float:
    """Seconds of exchange phase for one matrix op of `flops` FLOPs spread over every core of the device; 0 on
    a device without an exchange fabric."""
    if device.exchange_bytes_per_s <= 0 or flops <= 0:
        return 0.0
    cores = max(1, device.cores)
    macs_per_core = flops / (2.0 * cores)
    block_bytes = OPERAND_BLOCKS * macs_per_core ** (2.0 / 3.0) * ELEMENT_BYTES.get(precision, 2.0)
    return block_bytes / (device.exchange_bytes_per_s / cores)
