"""dojosim: a digital twin of Dojo-class training supercomputers and the GPU clusters they compete with.

Data flows one way: hardware + workload -> plan -> estimate -> report.
"""

__version__ = "0.1.0"
