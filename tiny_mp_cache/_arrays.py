"""numpy arrays as values, without pickling: a value is an .npy file (numpy's own format, numpy.lib.format).

An array is stored as the .npy header (magic, version, then dtype, shape
and order as a Python literal, padded so that the data starts 64-byte
aligned) followed by its raw bytes, so np.load(io.BytesIO(value)) reads
it too. A C- or Fortran-contiguous array is written from its own memory,
without a copy (the header and the data go as two pieces); any other is
made contiguous first. An array of Python objects is refused: its bytes
are pointers, and only pickling could store it.

numpy is optional: it is imported only by these functions.
"""

from __future__ import annotations

import io
from typing import Any


def _format() -> Any:
    try:
        import numpy.lib.format as npformat
    except ImportError:
        raise ImportError("set_array and get_array need numpy (pip install numpy)") from None
    return npformat


def pieces(array: Any) -> tuple[bytes, memoryview]:
    """The .npy header of array and a flat view of its data: the value set_array stores, in two pieces."""
    npformat = _format()
    import numpy as np

    if not isinstance(array, np.ndarray):
        raise TypeError(f"set_array takes a numpy array, not {type(array).__name__}")
    if array.dtype.hasobject:
        raise TypeError("set_array cannot store an array of Python objects (dtype object): only pickling could")
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        array = np.ascontiguousarray(array)
    header = io.BytesIO()
    npformat.write_array_header_1_0(header, npformat.header_data_from_array_1_0(array))
    order = "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"
    data = memoryview(array.reshape(-1, order=order).view(np.uint8)) if array.size else memoryview(b"")
    return header.getvalue(), data


def load(value: Any) -> Any:
    """The array in value (an .npy file's bytes, or a buffer of them), read-only, sharing value's memory."""
    npformat = _format()
    import numpy as np

    view = memoryview(value).cast("B")
    head = io.BytesIO(view[: min(len(view), 1 << 16)])  # the header only
    try:
        version = npformat.read_magic(head)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(head)
        else:
            shape, fortran, dtype = npformat.read_array_header_2_0(head)
    except ValueError as e:
        raise ValueError(f"the value is not an array stored by set_array (an .npy file): {e}") from None
    if dtype.hasobject:
        raise ValueError("the value holds an array of Python objects, which get_array does not unpickle")
    count = 1
    for n in shape:
        count *= n
    offset = head.tell()
    if len(view) - offset != count * dtype.itemsize:
        raise ValueError(f"the value's array data is {len(view) - offset} bytes, not the {count * dtype.itemsize} its header says")
    flat = np.frombuffer(view, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran else "C")
