"""Every bound resdsl puts on a spec, in one place.

A spec may come from someone you do not trust. Each limit below bounds the *work* that a spec can
cause, not only the size of what it produces: reading, parsing, expanding blocks, analyzing, drawing
and reporting errors all stay proportional to these numbers, whatever the text says. A spec past a
limit gets a clear error that names the limit (and, where it can be raised, how).
"""

from __future__ import annotations

#: Bytes in one spec file. Real specs are a few kilobytes (ResNet-152's is 1.2 KB); the parser takes
#: about 8 s per megabyte of the densest text on a 2-core machine, so at most 2 s at this size.
MAX_SOURCE_BYTES = 256 * 1024

#: Characters in a name (a layer, block, stage or value name): names are module paths, not data.
MAX_NAME_LENGTH = 100

#: Characters in an import path.
MAX_PATH_LENGTH = 1_000

#: The largest number a spec may write or compute, and the largest number of elements one tensor (an
#: activation per sample, or a weight) may have. Larger is a mistake, and would overflow PyTorch.
NUMBER_LIMIT = 2**48

#: Nodes a network may expand into, by default (``--max-nodes N`` raises it).
MAX_NODES = 100_000

#: Lowering work, per node allowed: every step run, block instance made and repetition counts, also
#: those that make no node (``identity``, an empty block), so that nesting empty blocks cannot loop
#: without bound while making nothing.
WORK_PER_NODE = 4

#: Block calls nested in each other, and module scopes (groups, stages, block instances) nested in each
#: other: module paths stay short enough for PyTorch and for generated code.
MAX_NESTING = 64

#: Faults collected before lowering stops, and how many of them the command line prints.
MAX_ERRORS = 100
MAX_ERRORS_SHOWN = 20

#: Notes printed for the chain of block instances a fault lies in: the outermost and innermost
#: halves, with a count of those left out between them (a chain can be MAX_NESTING long).
MAX_EXPANSION_SHOWN = 8

#: Characters of a source line echoed under a diagnostic (a window around the fault).
MAX_ECHO_WIDTH = 100

#: Nodes a diagram may have for Graphviz to lay it out (``.dot`` output has no such limit).
MAX_DRAWN_NODES = 1_000

#: Node visits the receptive-field trace may make, over all the pixel positions it traces.
MAX_TRACE_VISITS = 5_000_000
