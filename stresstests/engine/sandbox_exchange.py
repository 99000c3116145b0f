"""The parent's side of the sandbox's data channel: two memory files (memfd) made before the child starts.

The worker writes the rows into one and reads the predictions from the other through descriptors it opened itself,
so there is no path for the sandboxed code to swap for a symbolic link, a hard link to a server file, a FIFO that would
block an `open` forever, or a directory. The child can still do anything to the *contents* of both files at any
time (a thread of the model can find them in /proc/self/fd), so the worker:

- never maps them (a child truncating the file under a mapping would kill the worker with SIGBUS), it reads with
  `pread` at explicit offsets, never through the file position both processes share;
- reads at most the size the child announced, and refuses an announced size above what `n_rows` predictions can
  take before reading a byte;
- parses the `.npy` header itself and checks that the element count fits the rows and that the data is exactly as
  long as the header says, before building the array (np.load would first allocate whatever shape the header names);
- keeps no data in them between calls (both are emptied after each call).

The child's writes to the predictions file count toward its RLIMIT_FSIZE (the disk limit), as for any regular file.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
import pandas as pd

from stresstests.engine.errors import DataLoadError, ModelOutputError
from stresstests.engine.sandbox_child import frame_to_bytes, read_contents, replace_contents

# A prediction file may hold at most this many values per input row (the classes of a multiclass model).
MAX_VALUES_PER_ROW = 10_000
# Bytes a prediction may take on average (float64; short strings are let through so the parent can name them).
MAX_BYTES_PER_VALUE = 8
MAX_HEADER_BYTES = 65_536


class Exchange:
    """The rows file and the predictions file of one sandbox. `pass_fds` hands `fds` to the child."""

    def __init__(self) -> None:
        # Close-on-exec: the worker's other children never see them; pass_fds makes the sandbox's child an exception.
        # No MFD_ALLOW_SEALING, so the child cannot seal them against the worker's writes.
        self.rows_fd = os.memfd_create("rime-rows", os.MFD_CLOEXEC)
        self.predictions_fd = os.memfd_create("rime-predictions", os.MFD_CLOEXEC)

    @property
    def fds(self) -> tuple[int, int]:
        return self.rows_fd, self.predictions_fd

    def write_rows(self, frame: pd.DataFrame) -> int:
        try:
            data = frame_to_bytes(frame)
        except Exception as error:  # Arrow refuses a few exotic column types
            raise DataLoadError(f"The rows could not be handed to the model: {type(error).__name__}: {error}") from None
        return replace_contents(self.rows_fd, data)

    def read_predictions(self, announced: object, *, n_rows: int) -> np.ndarray:
        if not isinstance(announced, int) or isinstance(announced, bool) or announced <= 0:
            raise ModelOutputError("The model process returned no predictions.")
        most = MAX_HEADER_BYTES + max(n_rows, 1) * MAX_VALUES_PER_ROW * MAX_BYTES_PER_VALUE
        if announced > most:
            raise ModelOutputError(f"The model returned {announced} bytes of predictions for {n_rows} rows; return "
                                   "one prediction (or one row of class probabilities) per input row.")
        return parse_predictions(read_contents(self.predictions_fd, announced), n_rows=n_rows)

    def empty(self) -> None:
        for fd in self.fds:
            os.ftruncate(fd, 0)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


def parse_predictions(data: bytes, *, n_rows: int) -> np.ndarray:
    """A `.npy` file's array, after checking its header against `n_rows` and the length of `data`."""
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except ValueError as error:
        raise ModelOutputError(f"The model's predictions could not be read: {error}") from None
    if dtype.hasobject:
        raise ModelOutputError("The model's predictions hold Python objects; return numbers.")
    count = math.prod(shape)
    if count > max(n_rows, 1) * MAX_VALUES_PER_ROW:
        raise ModelOutputError(f"The model returned {count} values for {n_rows} rows; return one prediction "
                               "(or one row of class probabilities) per input row.")
    if len(data) - stream.tell() != count * dtype.itemsize:
        raise ModelOutputError("The model's predictions could not be read: the data does not match its header.")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=stream.tell())
    return array.reshape(shape, order="F" if fortran_order else "C").copy()
