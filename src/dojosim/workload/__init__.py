"""What runs: a real PyTorch training step, captured as an operator graph without allocating anything.

`dojosim.workload.graph` is torch-free (graphs load and serialize without torch); capture and the zoo
import torch when they are used.
"""

from dojosim.workload.graph import GRAPH_FORMAT_VERSION, Graph, Op

__all__ = ["GRAPH_FORMAT_VERSION", "Graph", "Op"]
